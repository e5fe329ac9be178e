#ifndef JMIRROR_CGMIME_SHIM_H
#define JMIRROR_CGMIME_SHIM_H
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
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

/* Every function used, looked up once under pthread_once (indexing reads messages on every core).
   (A function-local static: a static global in a header Swift imports is never emitted.) */
typedef struct {
    int ready;
    void *(*stream_mem_new_with_buffer)(const char *, size_t);
    void *(*stream_fs_open)(const char *, int, int, void **);
    void *(*stream_filter_new)(void *);
    int (*stream_filter_add)(void *, void *);
    ssize_t (*stream_read)(void *, char *, size_t);
    int (*stream_reset)(void *);
    void *(*data_wrapper_get_stream)(void *);
    int (*data_wrapper_get_encoding)(void *);
    void *(*filter_basic_new)(int, int);
    void *(*filter_charset_new)(const char *, const char *);
    void *(*parser_new_with_stream)(void *);
    void *(*parser_construct_message)(void *, void *);
    const char *(*message_get_subject)(void *);
    const char *(*message_get_message_id)(void *);
    void *(*message_get_from)(void *);
    void *(*message_get_to)(void *);
    void *(*message_get_cc)(void *);
    void *(*message_get_bcc)(void *);
    void *(*message_get_reply_to)(void *);
    void (*message_foreach)(void *, void (*)(void *, void *, void *), void *);
    char *(*address_list_to_string)(void *, void *, int);
    const char *(*object_get_header)(void *, const char *);
    void *(*object_get_content_type)(void *);
    const char *(*object_get_disposition_parameter)(void *, const char *);
    char *(*header_decode_text)(void *, const char *);
    const char *(*content_type_media)(void *);
    const char *(*content_type_subtype)(void *);
    const char *(*content_type_parameter)(void *, const char *);
    unsigned long (*part_type)(void);
    unsigned long (*message_part_type)(void);
    void *(*message_part_get_message)(void *);
    const char *(*part_get_filename)(void *);
    int (*part_is_attachment)(void *);
    void *(*part_get_content)(void *);
    int (*is_a)(void *, unsigned long);
    void (*unref)(void *);
    void (*free)(void *);
} jm_gmime_api;

static inline jm_gmime_api *jm_gmime(void) {
    static jm_gmime_api api;
    return &api;
}

static inline void jm_gmime_load(void) {
    void *h = dlopen("libgmime-3.0.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    jm_gmime_api *g = jm_gmime();
    int ok = 1;
#define JM_SYM(field, name) do { *(void **)&g->field = dlsym(h, name); if (!g->field) ok = 0; } while (0)
    JM_SYM(stream_mem_new_with_buffer, "g_mime_stream_mem_new_with_buffer");
    JM_SYM(stream_fs_open, "g_mime_stream_fs_open");
    JM_SYM(stream_filter_new, "g_mime_stream_filter_new");
    JM_SYM(stream_filter_add, "g_mime_stream_filter_add");
    JM_SYM(stream_read, "g_mime_stream_read");
    JM_SYM(stream_reset, "g_mime_stream_reset");
    JM_SYM(data_wrapper_get_stream, "g_mime_data_wrapper_get_stream");
    JM_SYM(data_wrapper_get_encoding, "g_mime_data_wrapper_get_encoding");
    JM_SYM(filter_basic_new, "g_mime_filter_basic_new");
    JM_SYM(filter_charset_new, "g_mime_filter_charset_new");
    JM_SYM(parser_new_with_stream, "g_mime_parser_new_with_stream");
    JM_SYM(parser_construct_message, "g_mime_parser_construct_message");
    JM_SYM(message_get_subject, "g_mime_message_get_subject");
    JM_SYM(message_get_message_id, "g_mime_message_get_message_id");
    JM_SYM(message_get_from, "g_mime_message_get_from");
    JM_SYM(message_get_to, "g_mime_message_get_to");
    JM_SYM(message_get_cc, "g_mime_message_get_cc");
    JM_SYM(message_get_bcc, "g_mime_message_get_bcc");
    JM_SYM(message_get_reply_to, "g_mime_message_get_reply_to");
    JM_SYM(message_foreach, "g_mime_message_foreach");
    JM_SYM(address_list_to_string, "internet_address_list_to_string");
    JM_SYM(object_get_header, "g_mime_object_get_header");
    JM_SYM(object_get_content_type, "g_mime_object_get_content_type");
    JM_SYM(object_get_disposition_parameter, "g_mime_object_get_content_disposition_parameter");
    JM_SYM(header_decode_text, "g_mime_utils_header_decode_text");
    JM_SYM(content_type_media, "g_mime_content_type_get_media_type");
    JM_SYM(content_type_subtype, "g_mime_content_type_get_media_subtype");
    JM_SYM(content_type_parameter, "g_mime_content_type_get_parameter");
    JM_SYM(part_type, "g_mime_part_get_type");
    JM_SYM(message_part_type, "g_mime_message_part_get_type");
    JM_SYM(message_part_get_message, "g_mime_message_part_get_message");
    JM_SYM(part_get_filename, "g_mime_part_get_filename");
    JM_SYM(part_is_attachment, "g_mime_part_is_attachment");
    JM_SYM(part_get_content, "g_mime_part_get_content");
    JM_SYM(is_a, "g_type_check_instance_is_a");
    JM_SYM(unref, "g_object_unref");
    JM_SYM(free, "g_free");
#undef JM_SYM
    void (*init)(void) = (void (*)(void))dlsym(h, "g_mime_init");
    if (!init || !ok) return;
    init();
    g->ready = 1;
}

/* Loads GMime once, whatever number of threads ask; 1 when it is there. */
static inline int jm_gmime_ready(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, jm_gmime_load);
    return jm_gmime()->ready;
}

typedef struct {
    void *ctx;
    jm_mime_part_cb part;
    size_t budget;  /* text bytes still wanted: a huge message must not take the indexer's memory */
    int depth;      /* attached messages inside attached messages, bounded */
} jm_mime_walk;

/* A text part's content, transfer encoding undone, converted to UTF-8 (GMime's iconv filter), up
   to `budget` bytes: the part is decoded as it is read, and reading stops there. (Writing the
   whole part out first held all of it: 57 MB of text in one part took 90 MB to index.) Returns
   the length; *out is malloc'd, or NULL. */
static inline size_t jm_mime_part_text(void *part, const char *charset, size_t budget, char **out) {
    jm_gmime_api *g = jm_gmime();
    *out = 0;
    void *content = g->part_get_content(part);
    void *raw = content ? g->data_wrapper_get_stream(content) : 0;
    if (!raw) return 0;
    g->stream_reset(raw);
    void *filtered = g->stream_filter_new(raw);
    int encoding = g->data_wrapper_get_encoding(content);
    if (encoding == 4 || encoding == 5 || encoding == 6) {  /* base64, quoted-printable, uuencode */
        void *decode = g->filter_basic_new(encoding, 0);
        if (decode) { g->stream_filter_add(filtered, decode); g->unref(decode); }
    }
    if (charset && strcasecmp(charset, "utf-8") && strcasecmp(charset, "us-ascii")) {
        void *conv = g->filter_charset_new(charset, "utf-8");
        if (conv) { g->stream_filter_add(filtered, conv); g->unref(conv); }
    }
    size_t size = 0, capacity = budget < 65536 ? budget : 65536;
    char *buffer = capacity ? malloc(capacity) : 0;
    while (buffer && size < budget) {
        if (size == capacity) {
            size_t grown = capacity * 2 < budget ? capacity * 2 : budget;
            char *bigger = realloc(buffer, grown);
            if (!bigger) break;
            buffer = bigger;
            capacity = grown;
        }
        ssize_t n = g->stream_read(filtered, buffer + size, capacity - size);
        if (n <= 0) break;
        size += (size_t)n;
    }
    g->unref(filtered);
    g->stream_reset(raw);  /* the wrapper's own stream (not a new reference): left as found */
    *out = buffer;
    return size;
}

static inline void jm_mime_visit(void *parent, void *part, void *data) {
    (void)parent;
    jm_gmime_api *g = jm_gmime();
    jm_mime_walk *w = (jm_mime_walk *)data;
    if (g->is_a(part, g->message_part_type())) {
        /* An attached message: an attachment in its own right (a name, a type), and its parts are
           read too, as a reader would open it. */
        const char *name = g->object_get_disposition_parameter(part, "filename");
        void *ct = g->object_get_content_type(part);
        if (!name && ct) name = g->content_type_parameter(ct, "name");
        w->part(w->ctx, "message", ct ? g->content_type_subtype(ct) : "rfc822", name, 1, 0, 0);
        void *inner = g->message_part_get_message(part);
        if (inner && w->depth < 8) {
            w->depth++;
            g->message_foreach(inner, jm_mime_visit, w);
            w->depth--;
        }
        return;
    }
    if (!g->is_a(part, g->part_type())) return;  /* multiparts: their leaves come next */
    void *ct = g->object_get_content_type(part);
    const char *media = ct ? g->content_type_media(ct) : "application";
    const char *subtype = ct ? g->content_type_subtype(ct) : "octet-stream";
    const char *filename = g->part_get_filename(part);
    int attachment = g->part_is_attachment(part);
    if (media && !strcasecmp(media, "text") && !attachment && w->budget > 0) {
        char *text = 0;
        size_t n = jm_mime_part_text(part, ct ? g->content_type_parameter(ct, "charset") : 0, w->budget, &text);
        w->budget -= n;
        w->part(w->ctx, media, subtype, filename, attachment, text, n);
        free(text);
    } else {
        w->part(w->ctx, media, subtype, filename, attachment, 0, 0);
    }
}

/* Parses the message in `stream` (and drops the caller's reference to it). Returns 0, or -2 when
   the bytes are not a message GMime can read at all. Headers come first (decoded, in UTF-8), then
   every leaf part in order. At most `text_budget` bytes of text are handed over in all. */
static inline int jm_mime_parse_stream(void *stream, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                       jm_mime_part_cb part) {
    jm_gmime_api *g = jm_gmime();
    void *parser = g->parser_new_with_stream(stream);
    g->unref(stream);
    void *message = g->parser_construct_message(parser, 0);
    g->unref(parser);
    if (!message) return -2;
    const char *subject = g->message_get_subject(message);
    if (subject) header(ctx, "subject", subject);
    const char *id = g->message_get_message_id(message);
    if (id) header(ctx, "message-id", id);
    void *(*lists[])(void *) = { g->message_get_from, g->message_get_to, g->message_get_cc, g->message_get_bcc,
                                 g->message_get_reply_to };
    const char *names[] = { "from", "to", "cc", "bcc", "reply-to" };
    for (int i = 0; i < 5; i++) {
        void *list = lists[i](message);
        char *text = list ? g->address_list_to_string(list, 0, 0) : 0;
        if (text) { if (*text) header(ctx, names[i], text); g->free(text); }
    }
    const char *raw[] = { "List-Id", "Date" };
    for (int i = 0; i < 2; i++) {
        const char *value = g->object_get_header(message, raw[i]);
        char *decoded = value ? g->header_decode_text(0, value) : 0;
        if (decoded) { header(ctx, i == 0 ? "list-id" : "date", decoded); g->free(decoded); }
    }
    jm_mime_walk walk = { ctx, part, text_budget, 0 };
    g->message_foreach(message, jm_mime_visit, &walk);
    g->unref(message);
    return 0;
}

/* A message held in memory (GMime copies it). -1 when GMime cannot be loaded. */
static inline int jm_mime_parse(const char *data, size_t len, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                jm_mime_part_cb part) {
    if (!jm_gmime_ready()) return -1;
    return jm_mime_parse_stream(jm_gmime()->stream_mem_new_with_buffer(data, len), text_budget, ctx, header, part);
}

/* A message in a file, read through GMime's own buffered file stream: parts stay in the file, so a
   1 GB message does not take 1 GB of memory. -1 when GMime cannot be loaded, -3 when the file
   cannot be opened. */
static inline int jm_mime_parse_file(const char *path, size_t text_budget, void *ctx, jm_mime_header_cb header,
                                     jm_mime_part_cb part) {
    if (!jm_gmime_ready()) return -1;
    void *stream = jm_gmime()->stream_fs_open(path, 0 /* O_RDONLY */, 0, 0);
    if (!stream) return -3;
    return jm_mime_parse_stream(stream, text_budget, ctx, header, part);
}
#endif
