#ifndef JMIRROR_CICAL_SHIM_H
#define JMIRROR_CICAL_SHIM_H
#include <libical/ical.h>
#include <dlfcn.h>

/* libical is loaded when a calendar conversion first needs recurrence expansion, not at start-up
   (as libarchive is: every command, a quiet sync included, would pay for loading it). */
static inline void *jm_ical_sym(const char *name) {
    static void *handle;
    if (!handle) handle = dlopen("libical.so.3", RTLD_NOW | RTLD_LOCAL);
    return handle ? dlsym(handle, name) : 0;
}

/* Each symbol is looked up once, on the first call (a conversion may ask for every override). */
#define JM_ICAL(name) static __typeof__(&name) name##_f; if (!name##_f) name##_f = (__typeof__(&name))jm_ical_sym(#name); \
    if (!name##_f) return -1

/* Whether the recurrence rule `rule` (an RRULE value) starting at `dtstart` generates `when`
   (both iCalendar local date-times, or dates): 1 yes, 0 no, -1 when libical is missing or the rule
   does not parse. Stops after `limit` occurrences or the first one past `when`. */
static inline int jm_ical_rule_generates(const char *rule, const char *dtstart, const char *when, int limit) {
    JM_ICAL(icalrecurrencetype_from_string);
    JM_ICAL(icaltime_from_string);
    JM_ICAL(icalrecur_iterator_new);
    JM_ICAL(icalrecur_iterator_next);
    JM_ICAL(icalrecur_iterator_free);
    JM_ICAL(icaltime_is_null_time);
    JM_ICAL(icaltime_compare);
    struct icalrecurrencetype recur = icalrecurrencetype_from_string_f(rule);
    if (recur.freq == ICAL_NO_RECURRENCE) return -1;
    struct icaltimetype start = icaltime_from_string_f(dtstart);
    struct icaltimetype target = icaltime_from_string_f(when);
    if (icaltime_is_null_time_f(start) || icaltime_is_null_time_f(target)) return -1;
    icalrecur_iterator *it = icalrecur_iterator_new_f(recur, start);
    if (!it) return -1;
    int found = 0;
    for (int i = 0; i < limit; i++) {
        struct icaltimetype next = icalrecur_iterator_next_f(it);
        if (icaltime_is_null_time_f(next)) break;
        int c = icaltime_compare_f(next, target);
        if (c == 0) { found = 1; break; }
        if (c > 0) break;
    }
    icalrecur_iterator_free_f(it);
    return found;
}
#undef JM_ICAL
#endif
