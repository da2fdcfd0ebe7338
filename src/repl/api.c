/*
 * api.c - the replicator's HTTP routes (api.h). The engine does the work; this file only
 * turns requests into fm_repl_* calls and their results or error codes into HTTP answers.
 */
#include "repl/api.h"

#include <stdio.h>
#include <string.h>

#define TASKS "/api/v1/tasks"

static void
set_json(fm_http_resp *resp, int status, cJSON *body)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    fm_buf_reset(&resp->body);
    if (text == NULL || fm_buf_appendf(&resp->body, "%s\n", text) != FM_OK) {
        resp->status = 500;
        fm_buf_reset(&resp->body);
        fm_buf_appendf(&resp->body, "{\"error\": \"out of memory\"}\n");
        snprintf(resp->log_msg, sizeof(resp->log_msg), "out of memory");
    }
    cJSON_free(text);
}

static void
set_error(fm_http_resp *resp, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddStringToObject(o, "error", msg);
    }
    snprintf(resp->log_msg, sizeof(resp->log_msg), "%s", msg);
    set_json(resp, status, o);
    cJSON_Delete(o);
}

static int
status_of(int rc)
{
    switch (rc) {
    case FM_EINVAL:
        return 400;
    case FM_ENOTFOUND:
        return 404;
    case FM_EEXIST:
        return 409;
    default:
        return 500;
    }
}

static void
set_failure(fm_http_resp *resp, int rc, const fm_errbuf *eb)
{
    set_error(resp, status_of(rc), eb->msg[0] != '\0' ? eb->msg : fm_strerror(rc));
}

/* {"<key>": arr}, taking arr. */
static void
set_wrapped(fm_http_resp *resp, int status, const char *key, cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToObject(o, key, arr)) {
        cJSON_Delete(arr);
        cJSON_Delete(o);
        set_error(resp, 500, "out of memory");
        return;
    }
    set_json(resp, status, o);
    cJSON_Delete(o);
}

static void
wrong_method(fm_http_resp *resp, const char *allow)
{
    snprintf(resp->allow, sizeof(resp->allow), "%s", allow);
    set_error(resp, 405, "method not allowed");
}

static void
tasks_collection(fm_repl *r, const fm_http_req *req, fm_http_resp *resp)
{
    cJSON *out = NULL, *spec;
    fm_errbuf eb;
    int rc;
    fm_err_clear(&eb);
    if (strcmp(req->method, "GET") == 0) {
        rc = fm_repl_task_list(r, &out);
        if (rc != FM_OK) {
            set_failure(resp, rc, &eb);
            return;
        }
        set_wrapped(resp, 200, "tasks", out);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        wrong_method(resp, "GET, POST");
        return;
    }
    spec = cJSON_ParseWithLength((const char *)req->body, req->body_len);
    if (spec == NULL) {
        set_error(resp, 400, "request body is not valid JSON");
        return;
    }
    rc = fm_repl_task_create(r, spec, &out, &eb);
    cJSON_Delete(spec);
    if (rc != FM_OK) {
        set_failure(resp, rc, &eb);
        return;
    }
    set_wrapped(resp, 201, "tasks", out);
}

/* /api/v1/tasks/NAME[/pause|/resume|/failover|/failback]; rest is what follows
 * "/api/v1/tasks/". */
static void
task_item(fm_repl *r, const fm_http_req *req, const char *rest, fm_http_resp *resp)
{
    char name[256];
    const char *slash = strchr(rest, '/'), *action = NULL;
    size_t len = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    cJSON *out = NULL;
    fm_errbuf eb;
    int rc;

    fm_err_clear(&eb);
    if (slash != NULL) {
        action = slash + 1;
        if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
            strcmp(action, "failover") != 0 && strcmp(action, "failback") != 0) {
            set_error(resp, 404, "no such endpoint");
            return;
        }
    }
    if (len == 0 || len >= sizeof(name)) {
        set_error(resp, 404, len == 0 ? "no such endpoint" : "no such task");
        return;
    }
    memcpy(name, rest, len);
    name[len] = '\0';

    if (action != NULL) {
        if (strcmp(req->method, "POST") != 0) {
            wrong_method(resp, "POST");
            return;
        }
        if (strcmp(action, "failover") == 0 || strcmp(action, "failback") == 0) {
            cJSON *body = NULL;
            int over = strcmp(action, "failover") == 0;
            if (req->body_len > 0 &&
                (body = cJSON_ParseWithLength((const char *)req->body, req->body_len)) == NULL) {
                set_error(resp, 400, "request body is not valid JSON");
                return;
            }
            rc = over ? fm_repl_task_failover(r, name, body, &out, &eb)
                      : fm_repl_task_failback(r, name, body, &out, &eb);
            cJSON_Delete(body);
            if (rc != FM_OK) {
                set_failure(resp, rc, &eb);
                return;
            }
            if (over) {
                set_json(resp, 200, out);
                cJSON_Delete(out);
            } else {
                set_wrapped(resp, 200, "tasks", out);
            }
            return;
        }
        rc = fm_repl_task_set_paused(r, name, strcmp(action, "pause") == 0, &out, &eb);
        if (rc != FM_OK) {
            set_failure(resp, rc, &eb);
            return;
        }
        set_wrapped(resp, 200, "tasks", out);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        rc = fm_repl_task_show(r, name, &out, &eb);
        if (rc != FM_OK) {
            set_failure(resp, rc, &eb);
            return;
        }
        set_wrapped(resp, 200, "tasks", out);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        rc = fm_repl_task_delete(r, name, &out, &eb);
        if (rc != FM_OK) {
            set_failure(resp, rc, &eb);
            return;
        }
        set_wrapped(resp, 200, "deleted", out);
        return;
    }
    wrong_method(resp, "GET, DELETE");
}

void
fm_repl_api_handle(void *ud, const fm_http_req *req, fm_http_resp *resp)
{
    fm_repl *r = ud;
    if (strcmp(req->path, TASKS) == 0) {
        tasks_collection(r, req, resp);
    } else if (strncmp(req->path, TASKS "/", sizeof(TASKS)) == 0) {
        task_item(r, req, req->path + sizeof(TASKS), resp);
    } else if (strcmp(req->path, "/metrics") == 0) {
        if (strcmp(req->method, "GET") != 0) {
            wrong_method(resp, "GET");
            return;
        }
        fm_buf_reset(&resp->body);
        if (fm_repl_metrics(r, &resp->body) != FM_OK) {
            set_error(resp, 500, "out of memory");
            return;
        }
        resp->status = 200;
        snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; version=0.0.4");
    } else if (strcmp(req->path, "/api/v1/journey") == 0) {
        char topic[256], id[128];
        cJSON *doc;
        fm_errbuf eb;
        int rc;
        if (strcmp(req->method, "GET") != 0) {
            wrong_method(resp, "GET");
            return;
        }
        if (fm_http_query_get(req->query, "topic", topic, sizeof(topic)) != FM_OK ||
            topic[0] == '\0' || fm_http_query_get(req->query, "id", id, sizeof(id)) != FM_OK ||
            id[0] == '\0') {
            set_error(resp, 400, "give topic and id (an offset message id or a UNIQ_KEY)");
            return;
        }
        eb.msg[0] = '\0';
        rc = fm_repl_journey(r, topic, id, &doc, &eb);
        if (rc != FM_OK) {
            set_failure(resp, rc, &eb);
            return;
        }
        set_json(resp, 200, doc);
        cJSON_Delete(doc);
    } else if (strcmp(req->path, "/healthz") == 0) {
        if (strcmp(req->method, "GET") != 0) {
            wrong_method(resp, "GET");
            return;
        }
        resp->status = 200;
        fm_buf_reset(&resp->body);
        fm_buf_appendf(&resp->body, "{\"status\": \"ok\"}\n");
    } else {
        set_error(resp, 404, "no such endpoint");
    }
}
