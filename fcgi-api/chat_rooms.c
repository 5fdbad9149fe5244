/* chat-rooms: the FastCGI (or CGI) program of rooms_api.h. */
#include "api_fcgi.h"
#include "rooms_api.h"

int main(void)
{
    return api_fcgi_main(&rooms_api_app);
}
