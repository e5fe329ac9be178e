#ifndef JMIRROR_CGMIME_SHIM_H
#define JMIRROR_CGMIME_SHIM_H
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

/* GMime 3 (what notmuch and mu use) decodes messages for the search index: RFC 2047 headers in
   any charset, RFC 2231 file names, quoted-printable and base64 bodies, charset conversion. It is
   loaded with dlopen the first time a message is read, as libarchive and libical are: linked, it
   and GLib would be loaded by every command, a quiet sync included. No GMime or GLib header is
   included (their include paths would bring their link flags): the few functions used are
   declared here by their C signatures, all opaque pointers. */

typedef void (*jm_mime_header_cb)(void *ctx, const char *name, const char *value);
/* One leaf part: its type, its file name (decoded, or NULL), whether it is an attachment, and,
   for text parts that are not attachments, their text in UTF-8 (else NULL). */
typedef void (*jm_mime_part_cb)(void *ctx, const char *type, const char *subtype, const char *filename, int attachment,
                                const char *text, size_t text_len);

typedef struct { unsigned char *data; unsigned int len; } jm_GByteArray;

/* (Function-local statics: a static global in a header Swift imports is never emitted.) */
static inline void **jm_gmime_handle_slot(void) {
    static void *handle;
    return &handle;
}

static inline void *jm_gmime_sym(const char *name) {
    void *h = *jm_gmime_handle_slot();
    return h ? dlsym(h, name) : 0;
}

static inline void jm_gmime_load(void) {
    void *h = dlopen("libgmime-3.0.so.0", RTLD_NOW | RTLD_LOCAL);
    void (*init)(void) = h ? (void (*)(void))dlsym(h, "g_mime_init") : 0;
    if (init) { init(); *jm_gmime_handle_slot() = h; }
}

/* Loads GMime once, whatever number of threads ask; 1 when it is there. */
static inline int jm_gmime_ready(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, jm_gmime_load);
    return *jm_gmime_handle_slot() != 0;
}

#define JM_F(ret, name, args) static ret (*name##_f) args; if (!name##_f) name##_f = (ret (*) args)jm_gmime_sym(#name); \
    if (!name##_f) return -1

typedef struct {
    void *ctx;
    jm_mime_part_cb part;
    size_t budget;  /* text bytes still wanted: a huge message must not take the indexer's memory */
    int failed;
    int depth;      /* attached messages inside attached messages, bounded */
} jm_mime_walk;

static inline int jm_mime_part_text(void *part, const char *charset, jm_GByteArray **out, void **mem_out) {
    JM_F(void *, g_mime_part_get_content, (void *));
    JM_F(void *, g_mime_stream_mem_new, (void));
    JM_F(void *, g_mime_stream_filter_new, (void *));
    JM_F(int, g_mime_stream_filter_add, (void *, void *));
    JM_F(void *, g_mime_filter_charset_new, (const char *, const char *));
    JM_F(ssize_t, g_mime_data_wrapper_write_to_stream, (void *, void *));
    JM_F(int, g_mime_stream_flush, (void *));
    JM_F(jm_GByteArray *, g_mime_stream_mem_get_byte_array, (void *));
    JM_F(void, g_object_unref, (void *));
    void *content = g_mime_part_get_content_f(part);
    if (!content) return 0;
    void *mem = g_mime_stream_mem_new_f();
    void *filtered = g_mime_stream_filter_new_f(mem);
    if (charset && strcasecmp(charset, "utf-8") && strcasecmp(charset, "us-ascii")) {
        void *conv = g_mime_filter_charset_new_f(charset, "utf-8");
        if (conv) { g_mime_stream_filter_add_f(filtered, conv); g_object_unref_f(conv); }
    }
    g_mime_data_wrapper_write_to_stream_f(content, filtered);
    g_mime_stream_flush_f(filtered);
    g_object_unref_f(filtered);
    *out = g_mime_stream_mem_get_byte_array_f(mem);
    *mem_out = mem;
    return 0;
}

static inline void jm_mime_visit(void *parent, void *part, void *data) {
    (void)parent;
    jm_mime_walk *w = (jm_mime_walk *)data;
    static unsigned long (*part_type_f)(void);
    static int (*is_a_f)(void *, unsigned long);
    static void *(*content_type_f)(void *);
    static const char *(*media_f)(void *), *(*subtype_f)(void *), *(*param_f)(void *, const char *), *(*filename_f)(void *);
    static int (*attachment_f)(void *);
    static void (*unref_f)(void *);
    if (!part_type_f) {
        part_type_f = (unsigned long (*)(void))jm_gmime_sym("g_mime_part_get_type");
        is_a_f = (int (*)(void *, unsigned long))jm_gmime_sym("g_type_check_instance_is_a");
        content_type_f = (void *(*)(void *))jm_gmime_sym("g_mime_object_get_content_type");
        media_f = (const char *(*)(void *))jm_gmime_sym("g_mime_content_type_get_media_type");
        subtype_f = (const char *(*)(void *))jm_gmime_sym("g_mime_content_type_get_media_subtype");
        param_f = (const char *(*)(void *, const char *))jm_gmime_sym("g_mime_content_type_get_parameter");
        filename_f = (const char *(*)(void *))jm_gmime_sym("g_mime_part_get_filename");
        attachment_f = (int (*)(void *))jm_gmime_sym("g_mime_part_is_attachment");
        unref_f = (void (*)(void *))jm_gmime_sym("g_object_unref");
    }
    if (!part_type_f || !is_a_f || !content_type_f || !media_f || !subtype_f || !param_f || !filename_f || !attachment_f || !unref_f) {
        w->failed = 1;
        return;
    }
    static unsigned long (*message_part_type_f)(void);
    static void *(*inner_message_f)(void *);
    static const char *(*disposition_param_f)(void *, const char *);
    static void (*foreach_f)(void *, void (*)(void *, void *, void *), void *);
    if (!message_part_type_f) {
        message_part_type_f = (unsigned long (*)(void))jm_gmime_sym("g_mime_message_part_get_type");
        inner_message_f = (void *(*)(void *))jm_gmime_sym("g_mime_message_part_get_message");
        disposition_param_f = (const char *(*)(void *, const char *))jm_gmime_sym("g_mime_object_get_content_disposition_parameter");
        foreach_f = (void (*)(void *, void (*)(void *, void *, void *), void *))jm_gmime_sym("g_mime_message_foreach");
    }
    if (message_part_type_f && is_a_f(part, message_part_type_f())) {
        /* An attached message: an attachment in its own right (a name, a type), and its parts are
           read too, as a reader would open it. */
        const char *name = disposition_param_f ? disposition_param_f(part, "filename") : 0;
        void *ct = content_type_f(part);
        if (!name && ct) name = param_f(ct, "name");
        w->part(w->ctx, "message", ct ? subtype_f(ct) : "rfc822", name, 1, 0, 0);
        void *inner = inner_message_f ? inner_message_f(part) : 0;
        if (inner && foreach_f && w->depth < 8) {
            w->depth++;
            foreach_f(inner, jm_mime_visit, w);
            w->depth--;
        }
        return;
    }
    if (!is_a_f(part, part_type_f())) return;  /* multiparts: their leaves come next */
    void *ct = content_type_f(part);
    const char *media = ct ? media_f(ct) : "application";
    const char *subtype = ct ? subtype_f(ct) : "octet-stream";
    const char *filename = filename_f(part);
    int attachment = attachment_f(part);
    if (media && !strcasecmp(media, "text") && !attachment && w->budget > 0) {
        jm_GByteArray *bytes = 0;
        void *mem = 0;
        jm_mime_part_text(part, ct ? param_f(ct, "charset") : 0, &bytes, &mem);
        size_t n = bytes ? bytes->len : 0;
        if (n > w->budget) n = w->budget;
        w->budget -= n;
        w->part(w->ctx, media, subtype, filename, attachment, bytes ? (const char *)bytes->data : 0, n);
        if (mem) unref_f(mem);
    } else {
        w->part(w->ctx, media, subtype, filename, attachment, 0, 0);
    }
}

/* Parses the message in `stream` (and drops the caller's reference to it). Returns 0, -1 when
   GMime cannot be loaded, -2 when the bytes are not a message GMime can read at all. Headers come
   first (decoded, in UTF-8), then every leaf part in order. At most `text_budget` bytes of text
   are handed over in all. */
static inline int jm_mime_parse_stream(void *stream, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                       jm_mime_part_cb part) {
    JM_F(void *, g_mime_parser_new_with_stream, (void *));
    JM_F(void *, g_mime_parser_construct_message, (void *, void *));
    JM_F(const char *, g_mime_message_get_subject, (void *));
    JM_F(const char *, g_mime_message_get_message_id, (void *));
    JM_F(void *, g_mime_message_get_from, (void *));
    JM_F(void *, g_mime_message_get_to, (void *));
    JM_F(void *, g_mime_message_get_cc, (void *));
    JM_F(void *, g_mime_message_get_bcc, (void *));
    JM_F(void *, g_mime_message_get_reply_to, (void *));
    JM_F(char *, internet_address_list_to_string, (void *, void *, int));
    JM_F(const char *, g_mime_object_get_header, (void *, const char *));
    JM_F(char *, g_mime_utils_header_decode_text, (void *, const char *));
    JM_F(void, g_mime_message_foreach, (void *, void (*)(void *, void *, void *), void *));
    JM_F(void, g_object_unref, (void *));
    JM_F(void, g_free, (void *));
    void *parser = g_mime_parser_new_with_stream_f(stream);
    g_object_unref_f(stream);
    void *message = g_mime_parser_construct_message_f(parser, 0);
    g_object_unref_f(parser);
    if (!message) return -2;
    const char *subject = g_mime_message_get_subject_f(message);
    if (subject) header(ctx, "subject", subject);
    const char *id = g_mime_message_get_message_id_f(message);
    if (id) header(ctx, "message-id", id);
    void *(*lists[])(void *) = { g_mime_message_get_from_f, g_mime_message_get_to_f, g_mime_message_get_cc_f,
                                 g_mime_message_get_bcc_f, g_mime_message_get_reply_to_f };
    const char *names[] = { "from", "to", "cc", "bcc", "reply-to" };
    for (int i = 0; i < 5; i++) {
        void *list = lists[i](message);
        char *text = list ? internet_address_list_to_string_f(list, 0, 0) : 0;
        if (text) { if (*text) header(ctx, names[i], text); g_free_f(text); }
    }
    const char *raw[] = { "List-Id", "Date" };
    for (int i = 0; i < 2; i++) {
        const char *value = g_mime_object_get_header_f(message, raw[i]);
        char *decoded = value ? g_mime_utils_header_decode_text_f(0, value) : 0;
        if (decoded) { header(ctx, i == 0 ? "list-id" : "date", decoded); g_free_f(decoded); }
    }
    jm_mime_walk walk = { ctx, part, text_budget, 0, 0 };
    g_mime_message_foreach_f(message, jm_mime_visit, &walk);
    g_object_unref_f(message);
    return walk.failed ? -1 : 0;
}
/* A message held in memory (GMime copies it). */
static inline int jm_mime_parse(const char *data, size_t len, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                jm_mime_part_cb part) {
    if (!jm_gmime_ready()) return -1;
    JM_F(void *, g_mime_stream_mem_new_with_buffer, (const char *, size_t));
    return jm_mime_parse_stream(g_mime_stream_mem_new_with_buffer_f(data, len), text_budget, ctx, header, part);
}

/* A message in a file, read through GMime's own buffered file stream: parts stay in the file, so a
   1 GB message does not take 1 GB of memory. -3 when the file cannot be opened. */
static inline int jm_mime_parse_file(const char *path, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                     jm_mime_part_cb part) {
    if (!jm_gmime_ready()) return -1;
    JM_F(void *, g_mime_stream_fs_open, (const char *, int, int, void **));
    void *stream = g_mime_stream_fs_open_f(path, 0 /* O_RDONLY */, 0, 0);
    if (!stream) return -3;
    return jm_mime_parse_stream(stream, text_budget, ctx, header, part);
}
#undef JM_F
#endif
