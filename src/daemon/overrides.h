/*
 * overrides.h - settings changed while running (UPDATE_BROKER_CONFIG, mqadmin
 * updateBrokerConfig): checked against the settings table as a whole, persisted in
 * <storePathRootDir>/config/broker.properties (replaced atomically) before they are taken,
 * and read back at the next start after the -c file and before the flags, which still win.
 * RocketMQ rewrites its -c file instead; we leave the operator's file alone.
 *
 * Thread: the daemon's loop thread (and the main thread before it starts).
 */
#ifndef FM_DAEMON_OVERRIDES_H
#define FM_DAEMON_OVERRIDES_H

#include "daemon/settings.h"

#define FM_OVERRIDES_MAX 128

typedef struct fm_daemon_overrides {
    char path[FM_CONFIG_STR_MAX + 48];
    char dir[FM_CONFIG_STR_MAX + 16];
    int n;
    char keys[FM_OVERRIDES_MAX][64];
    char values[FM_OVERRIDES_MAX][FM_CONFIG_STR_MAX];
} fm_daemon_overrides;

/**
 * Read <store_dir>/config/broker.properties (if there is one) into o and apply it to s.
 * FM_OK (also without a file), or an error naming the file and line.
 */
int fm_daemon_overrides_load(fm_daemon_overrides *o, const char *store_dir, fm_daemon_settings *s,
                             fm_errbuf *eb);

/**
 * Apply n key/value pairs to s: all are checked first (unknown key, bad value, a setting that
 * cannot change while running: role, storePathRootDir), then the merged overrides are written,
 * then s changes. On any error nothing changed and eb names the key. FM_OK, FM_ENOTFOUND,
 * FM_EINVAL, FM_EIO.
 */
int fm_daemon_overrides_update(fm_daemon_overrides *o, fm_daemon_settings *s,
                               const char *const *keys, const char *const *values, int n,
                               fm_errbuf *eb);

/** 1 when the broker takes the setting at once (fm_broker_reconfigure and the store's
 * retention), 0 when it takes effect at the next start. */
int fm_daemon_setting_is_live(const char *key);

#endif
