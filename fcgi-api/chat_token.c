/* chat-token: the FastCGI (or CGI) program of token_api.h. */
#include "api_fcgi.h"
#include "token_api.h"

int main(void)
{
    return api_fcgi_main(&token_api_app);
}
