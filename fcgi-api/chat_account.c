/* chat-account: the FastCGI (or CGI) program of account_api.h. */
#include "api_fcgi.h"
#include "account_api.h"

int main(void)
{
    return api_fcgi_main(&account_api_app);
}
