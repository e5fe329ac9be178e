#ifndef JMIRROR_CCURL_H
#define JMIRROR_CCURL_H
#include <curl/curl.h>

/* The system libcurl, loaded at its first use rather than at every start: libcurl.so.4 brings
   about thirty shared libraries (TLS, Kerberos, LDAP, SSH…) whose loading cost 8 ms of CPU in
   every process, `jmirror search` and `jmirror status` included, which never make a request.
   Its headers still give the types and constants; only the functions go through dlsym. */

/* Loads libcurl.so.4 and runs curl_global_init once per process. Every function below calls it
   itself; a machine without libcurl gets a one-line message and exit status 69 (EX_UNAVAILABLE)
   at the first network request, as it would have at start when libcurl was linked. */
void jm_curl_load(void);

CURL *jm_curl_easy_init(void);
void jm_curl_easy_cleanup(CURL *h);
const char *jm_curl_easy_strerror(CURLcode code);
CURLM *jm_curl_multi_init(void);
CURLMcode jm_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode jm_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode jm_curl_multi_perform(CURLM *m, int *running);
CURLMcode jm_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int count, int timeout_ms, int *numfds);
CURLMsg *jm_curl_multi_info_read(CURLM *m, int *left);
struct curl_slist *jm_curl_slist_append(struct curl_slist *list, const char *s);
void jm_curl_slist_free_all(struct curl_slist *list);

/* curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic and not imported into
   Swift: one typed wrapper per argument kind. */
typedef size_t (*jm_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode jm_easy_setopt_long(CURL *h, CURLoption o, long v);
CURLcode jm_easy_setopt_ptr(CURL *h, CURLoption o, void *v);
CURLcode jm_easy_setopt_string(CURL *h, CURLoption o, const char *v);
CURLcode jm_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode jm_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v);
CURLcode jm_easy_setopt_callback(CURL *h, CURLoption o, jm_data_callback v);

CURLcode jm_easy_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode jm_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v);
CURLcode jm_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v);

CURLMcode jm_multi_setopt_long(CURLM *m, CURLMoption o, long v);

static inline long jm_pipe_multiplex(void) { return CURLPIPE_MULTIPLEX; }
static inline long jm_auth_basic(void) { return (long)CURLAUTH_BASIC; }
static inline long jm_auth_bearer(void) { return (long)CURLAUTH_BEARER; }
static inline long jm_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
#endif
