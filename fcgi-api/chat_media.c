/* chat-media: the FastCGI (or CGI) program of media_api.h. */
#include "api_fcgi.h"
#include "media_api.h"

int main(void)
{
    return api_fcgi_main(&media_api_app);
}
