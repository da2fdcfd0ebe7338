/*
 * log.h - one line per notable event (style.md 3.6).
 *
 * Line format:  2026-11-25T01:02:03.456Z INFO broker[1234] store FM-STORE-TORN-TAIL seg=... cut=312
 * i.e. UTC timestamp with ms, level, role[pid], component, a stable event id from
 * docs/logging.md, then key=value fields. Tests wait for event ids, so ids never change.
 *
 * Thread: fm_log may be called from any thread; each line is written with one write(2) so lines
 * from different threads never interleave. fm_log_init is called once, before other threads.
 */
#ifndef FM_COMMON_LOG_H
#define FM_COMMON_LOG_H

enum fm_log_level { FM_LOG_ERROR = 0, FM_LOG_WARN = 1, FM_LOG_INFO = 2, FM_LOG_DEBUG = 3 };

/**
 * Set the role name shown on each line, the file descriptor lines go to (-1, the default
 * before this call, writes nothing: a library must not print on its own) and the most verbose
 * level written. `role` must be a static string.
 * `debug_cats` is a comma list of components whose DEBUG lines are written ("net,store"),
 * or NULL; it is copied.
 */
void fm_log_init(const char *role, int fd, enum fm_log_level max_level, const char *debug_cats);

/**
 * Also write every line to the file at path (appended; created 0640), in addition to the fd
 * of fm_log_init. 0, or an errno value (the file cannot be opened: nothing changes). Called
 * once, at start, before other threads.
 */
int fm_log_open_file(const char *path);

/**
 * Reopen that file by its path (after logrotate moved it away): the next line goes to a new
 * file of that name. Safe while other threads log: the new file takes over the same
 * descriptor number (dup2), so no line can reach another file. 0, an errno value (the old
 * file stays in use), or ENOENT when no file was opened. Thread: any; not signal-safe.
 */
int fm_log_reopen(void);

/** True when a line at this level for this component would be written (avoid costly args). */
int fm_log_enabled(enum fm_log_level level, const char *component);

/** Write one line; see the format above. */
void fm_log(enum fm_log_level level, const char *component, const char *event_id, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));

#define FM_LOGE(comp, ev, ...) fm_log(FM_LOG_ERROR, comp, ev, __VA_ARGS__)
#define FM_LOGW(comp, ev, ...) fm_log(FM_LOG_WARN, comp, ev, __VA_ARGS__)
#define FM_LOGI(comp, ev, ...) fm_log(FM_LOG_INFO, comp, ev, __VA_ARGS__)
#define FM_LOGD(comp, ev, ...)                                                                     \
    do {                                                                                           \
        if (fm_log_enabled(FM_LOG_DEBUG, comp)) {                                                  \
            fm_log(FM_LOG_DEBUG, comp, ev, __VA_ARGS__);                                           \
        }                                                                                          \
    } while (0)

/** Our own invariants only, never input validation: logs file:line and aborts. */
#define FM_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fm_log_assert_fail(#cond, __FILE__, __LINE__);                                         \
        }                                                                                          \
    } while (0)

_Noreturn void fm_log_assert_fail(const char *expr, const char *file, int line);

#endif
