/* chat-history: the FastCGI (or CGI) program of history_api.h. */
#include "api_fcgi.h"
#include "history_api.h"

int main(void)
{
    return api_fcgi_main(&history_api_app);
}
