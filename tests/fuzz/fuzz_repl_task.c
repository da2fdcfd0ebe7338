/* libFuzzer target: replication task specs (src/repl/task.c). Input: JSON text, parsed as
 * the HTTP API and the task file parse it. What must hold: no crash or leak, an accepted spec
 * writes back to JSON that parses again to the same names, and wants_topic never copies a
 * system topic. */
#include "repl/task.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    fm_repl_spec *specs;
    size_t n;
    fm_errbuf eb;
    if (j == NULL) {
        return 0;
    }
    if (fm_repl_spec_parse(j, &specs, &n, &eb) == FM_OK) {
        for (size_t i = 0; i < n; i++) {
            cJSON *back = fm_repl_spec_to_json(&specs[i]);
            fm_repl_spec *again;
            size_t m;
            if (back == NULL) {
                abort();
            }
            if (fm_repl_spec_parse(back, &again, &m, &eb) != FM_OK || m != 1 ||
                strcmp(again[0].name, specs[i].name) != 0 || again[0].from_ms != specs[i].from_ms ||
                again[0].from != specs[i].from) {
                abort();
            }
            fm_repl_spec_free(&again[0]);
            free(again);
            cJSON_Delete(back);
            if (fm_repl_spec_wants_topic(&specs[i], "RMQ_SYS_TRACE_TOPIC") ||
                fm_repl_spec_wants_topic(&specs[i], "TBW102")) {
                abort();
            }
            (void)fm_repl_spec_wants_topic(&specs[i], "orders");
            (void)fm_repl_spec_wants_topic(&specs[i], "%RETRY%g");
            fm_repl_spec_free(&specs[i]);
        }
        free(specs);
    }
    cJSON_Delete(j);
    return 0;
}
