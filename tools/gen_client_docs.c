/* Prints docs/client-config.md from libferrymq's option table (run by tools/gen-docs.sh). */
#include "client/client_int.h"

int
main(void)
{
    printf("# libferrymq options\n\n"
           "Set with `ferrymq_conf_set(conf, key, value, errstr, size)`; keys are spelled as\n"
           "RocketMQ clients spell them. Generated from the table that parses them.\n\n");
    fm_client_conf_markdown(stdout);
    return 0;
}
