#include "ccurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *need(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) {
        fprintf(stderr, "jmirror: libcurl.so.4 has no %s: libcurl 7.66 or later is needed (apt-get install libcurl4)\n", name);
        exit(69);
    }
    return f;
}

static void load(void) {
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "jmirror: cannot load libcurl (%s): apt-get install libcurl4\n", dlerror());
        exit(69);
    }
    api.global_init = need(lib, "curl_global_init");
    api.easy_init = need(lib, "curl_easy_init");
    api.easy_cleanup = need(lib, "curl_easy_cleanup");
    api.easy_strerror = need(lib, "curl_easy_strerror");
    api.easy_setopt = need(lib, "curl_easy_setopt");
    api.easy_getinfo = need(lib, "curl_easy_getinfo");
    api.multi_init = need(lib, "curl_multi_init");
    api.multi_add_handle = need(lib, "curl_multi_add_handle");
    api.multi_remove_handle = need(lib, "curl_multi_remove_handle");
    api.multi_perform = need(lib, "curl_multi_perform");
    api.multi_poll = need(lib, "curl_multi_poll");
    api.multi_info_read = need(lib, "curl_multi_info_read");
    api.multi_setopt = need(lib, "curl_multi_setopt");
    api.slist_append = need(lib, "curl_slist_append");
    api.slist_free_all = need(lib, "curl_slist_free_all");
    api.global_init(CURL_GLOBAL_DEFAULT);
}

void jm_curl_load(void) { pthread_once(&once, load); }

/* A handle only exists after jm_curl_easy_init or jm_curl_multi_init, which load the library:
   the calls that take one need not check again. */
CURL *jm_curl_easy_init(void) { jm_curl_load(); return api.easy_init(); }
void jm_curl_easy_cleanup(CURL *h) { api.easy_cleanup(h); }
const char *jm_curl_easy_strerror(CURLcode code) { jm_curl_load(); return api.easy_strerror(code); }
CURLM *jm_curl_multi_init(void) { jm_curl_load(); return api.multi_init(); }
CURLMcode jm_curl_multi_add_handle(CURLM *m, CURL *h) { return api.multi_add_handle(m, h); }
CURLMcode jm_curl_multi_remove_handle(CURLM *m, CURL *h) { return api.multi_remove_handle(m, h); }
CURLMcode jm_curl_multi_perform(CURLM *m, int *running) { return api.multi_perform(m, running); }
CURLMcode jm_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int count, int timeout_ms, int *numfds) {
    return api.multi_poll(m, extra, count, timeout_ms, numfds);
}
CURLMsg *jm_curl_multi_info_read(CURLM *m, int *left) { return api.multi_info_read(m, left); }
struct curl_slist *jm_curl_slist_append(struct curl_slist *list, const char *s) { jm_curl_load(); return api.slist_append(list, s); }
void jm_curl_slist_free_all(struct curl_slist *list) { if (list) api.slist_free_all(list); }

CURLcode jm_easy_setopt_long(CURL *h, CURLoption o, long v) { return api.easy_setopt(h, o, v); }
CURLcode jm_easy_setopt_ptr(CURL *h, CURLoption o, void *v) { return api.easy_setopt(h, o, v); }
CURLcode jm_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return api.easy_setopt(h, o, v); }
CURLcode jm_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return api.easy_setopt(h, o, v); }
CURLcode jm_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return api.easy_setopt(h, o, v); }
CURLcode jm_easy_setopt_callback(CURL *h, CURLoption o, jm_data_callback v) { return api.easy_setopt(h, o, v); }

CURLcode jm_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return api.easy_getinfo(h, i, v); }
CURLcode jm_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return api.easy_getinfo(h, i, v); }
CURLcode jm_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return api.easy_getinfo(h, i, v); }

CURLMcode jm_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return api.multi_setopt(m, o, v); }
