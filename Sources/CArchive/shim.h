#ifndef JMIRROR_CARCHIVE_SHIM_H
#define JMIRROR_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
/* Macros with casts are not imported into Swift. */
static const unsigned int jm_ae_ifreg = AE_IFREG;
static const unsigned int jm_ae_ifdir = AE_IFDIR;

/* libarchive is loaded when an archive is first read or written, not at start-up: linked
   directly, it and what it links (libxml2, ICU, lzma, bz2, lz4, acl) were loaded by every
   command, a quiet sync included (2-5 ms of process start, measured). */
static inline void *jm_archive_sym(const char *name) {
    static void *handle;
    if (!handle) handle = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    return handle ? dlsym(handle, name) : 0;
}
static inline int jm_archive_available(void) { return jm_archive_sym("archive_version_number") != 0; }

#define JM_FN(name) static __typeof__(&name) f; if (!f) f = (__typeof__(&name))jm_archive_sym(#name)

static inline struct archive *jm_archive_write_new(void) { JM_FN(archive_write_new); return f(); }
static inline struct archive *jm_archive_read_new(void) { JM_FN(archive_read_new); return f(); }
static inline struct archive_entry *jm_archive_entry_new(void) { JM_FN(archive_entry_new); return f(); }
static inline void jm_archive_entry_free(struct archive_entry *e) { JM_FN(archive_entry_free); f(e); }
static inline struct archive_entry *jm_archive_entry_clear(struct archive_entry *e) { JM_FN(archive_entry_clear); return f(e); }
static inline int jm_archive_write_free(struct archive *a) { JM_FN(archive_write_free); return f(a); }
static inline int jm_archive_read_free(struct archive *a) { JM_FN(archive_read_free); return f(a); }
static inline const char *jm_archive_error_string(struct archive *a) { JM_FN(archive_error_string); return f(a); }
static inline int jm_archive_write_add_filter_zstd(struct archive *a) { JM_FN(archive_write_add_filter_zstd); return f(a); }
static inline int jm_archive_write_set_filter_option(struct archive *a, const char *m, const char *o, const char *v) {
    JM_FN(archive_write_set_filter_option); return f(a, m, o, v);
}
static inline int jm_archive_write_set_format_pax_restricted(struct archive *a) {
    JM_FN(archive_write_set_format_pax_restricted); return f(a);
}
static inline int jm_archive_write_set_bytes_in_last_block(struct archive *a, int n) {
    JM_FN(archive_write_set_bytes_in_last_block); return f(a, n);
}
static inline int jm_archive_write_open_fd(struct archive *a, int fd) { JM_FN(archive_write_open_fd); return f(a, fd); }
static inline void jm_archive_entry_set_pathname(struct archive_entry *e, const char *p) { JM_FN(archive_entry_set_pathname); f(e, p); }
static inline void jm_archive_entry_set_size(struct archive_entry *e, la_int64_t s) { JM_FN(archive_entry_set_size); f(e, s); }
static inline void jm_archive_entry_set_filetype(struct archive_entry *e, unsigned int t) { JM_FN(archive_entry_set_filetype); f(e, t); }
static inline void jm_archive_entry_set_perm(struct archive_entry *e, mode_t m) { JM_FN(archive_entry_set_perm); f(e, m); }
static inline void jm_archive_entry_set_mtime(struct archive_entry *e, time_t t, long ns) { JM_FN(archive_entry_set_mtime); f(e, t, ns); }
static inline int jm_archive_write_header(struct archive *a, struct archive_entry *e) { JM_FN(archive_write_header); return f(a, e); }
static inline la_ssize_t jm_archive_write_data(struct archive *a, const void *b, size_t n) { JM_FN(archive_write_data); return f(a, b, n); }
static inline int jm_archive_write_close(struct archive *a) { JM_FN(archive_write_close); return f(a); }
static inline int jm_archive_read_support_filter_all(struct archive *a) { JM_FN(archive_read_support_filter_all); return f(a); }
static inline int jm_archive_read_support_format_all(struct archive *a) { JM_FN(archive_read_support_format_all); return f(a); }
static inline int jm_archive_read_open_fd(struct archive *a, int fd, size_t block) { JM_FN(archive_read_open_fd); return f(a, fd, block); }
static inline int jm_archive_read_next_header(struct archive *a, struct archive_entry **e) { JM_FN(archive_read_next_header); return f(a, e); }
static inline const char *jm_archive_entry_pathname(struct archive_entry *e) { JM_FN(archive_entry_pathname); return f(e); }
static inline la_int64_t jm_archive_entry_size(struct archive_entry *e) { JM_FN(archive_entry_size); return f(e); }
static inline time_t jm_archive_entry_mtime(struct archive_entry *e) { JM_FN(archive_entry_mtime); return f(e); }
static inline la_ssize_t jm_archive_read_data(struct archive *a, void *b, size_t n) { JM_FN(archive_read_data); return f(a, b, n); }
#undef JM_FN
#endif
