/*
 * api.h - the replicator's HTTP API (docs/replication.md): routes /api/v1/tasks..., /metrics
 * and /healthz onto fm_repl_* calls, as an fm_http handler. JSON in and out; every error is
 * {"error": "<message>"} with FM_EINVAL -> 400, FM_ENOTFOUND -> 404, FM_EEXIST -> 409 and
 * anything else 500; unknown paths 404, a known path with the wrong method 405.
 *
 * Thread: called on the HTTP server's threads; fm_repl_* are safe from any thread.
 */
#ifndef FM_REPL_API_H
#define FM_REPL_API_H

#include "http/http.h"
#include "repl/repl.h"

/** The fm_http handler; ud is the fm_repl (borrowed, must outlive the server). */
void fm_repl_api_handle(void *ud, const fm_http_req *req, fm_http_resp *resp);

#endif
