#ifndef JMIRROR_CCURL_SHIM_H
#define JMIRROR_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic and not imported into
   Swift: one typed wrapper per argument kind. */
typedef size_t (*jm_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode jm_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jm_easy_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jm_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jm_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jm_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jm_easy_setopt_callback(CURL *h, CURLoption o, jm_data_callback v) { return curl_easy_setopt(h, o, v); }

static inline CURLcode jm_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode jm_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode jm_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode jm_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

static inline long jm_pipe_multiplex(void) { return CURLPIPE_MULTIPLEX; }
static inline long jm_auth_basic(void) { return (long)CURLAUTH_BASIC; }
static inline long jm_auth_bearer(void) { return (long)CURLAUTH_BEARER; }
static inline long jm_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
#endif
