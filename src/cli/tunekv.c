/* tunekv: the command-line client. It uses only include/tunekv.h, like any
 * other program built on libtunekv.
 *
 * One invocation runs one command through the blocking API and reports it
 * either for people (value on stdout, errors on stderr as
 * "tunekv: get: NOT_FOUND: message") or, with --json, as exactly one JSON
 * object on stdout. The exit code says which class of outcome it was (see
 * output_exit_code and --help), so scripts can tell "not there" from
 * "maybe written" from "try again".
 *
 * Each invocation is one client, so one session. --token-in loads a session
 * token saved by an earlier invocation (--token-out) before the request, so
 * that read-your-writes and causal order hold across processes: a script
 * that writes with --token-out t and reads with --token-in t at level
 * session reads its write from any replica.
 *
 * The code is split by concern (cli.h lists what each file offers): args.c
 * reads the command line, commands.c runs one command, output.c prints it;
 * this file holds main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parse, open the client, load the session token, run the command, and
 * close: the only place that sees every stage. */
int main(int argc, char **argv)
{
        struct cli_args a;
        struct tkv_options opts;
        struct tkv_client *c = NULL;
        char errbuf[512];
        char password[1025];
        int rv;

        rv = args_parse(&a, argc, argv);
        if (rv >= 0) {
                goto cleanup;
        }
        opts = a.tls;
        if (opts.tls_ca_file == NULL && getenv("TUNEKV_CACERT") != NULL &&
            getenv("TUNEKV_CACERT")[0] != '\0') {
                opts.tls_ca_file = getenv("TUNEKV_CACERT");
        }
        opts.endpoints = a.endpoints;
        opts.timeout_ms = a.timeout_ms;
        /* member add's --zone is the new member's (members.c refuses it on
         * other member commands); on every other command it is ours. */
        opts.zone = strcmp(a.command, "member") != 0 ? a.zone : NULL;
        password[0] = '\0';
        if (a.user != NULL) {
                rv = args_password(&a, password, sizeof(password));
                if (rv >= 0) {
                        goto cleanup;
                }
                opts.user = a.user;
                opts.password = password;
        }
        rv = tkv_client_create(&opts, &c, errbuf, sizeof(errbuf));
        if (rv != TKV_OK) {
                rv = output_fail(&a, rv, errbuf, NULL);
                goto cleanup;
        }
        if (strcmp(a.command, "status") != 0 && strcmp(a.command, "user") != 0 &&
            strcmp(a.command, "role") != 0 && strcmp(a.command, "member") != 0 &&
            strcmp(a.command, "transfer-leader") != 0 && strcmp(a.command, "lease") != 0 &&
            strcmp(a.command, "move") != 0) {
                rv = commands_token_load(c, &a);
                if (rv >= 0) {
                        goto cleanup;
                }
        }
        if (strcmp(a.command, "get") == 0) {
                rv = commands_get(c, &a);
        } else if (strcmp(a.command, "mget") == 0) {
                rv = commands_mget(c, &a);
        } else if (strcmp(a.command, "scan") == 0) {
                rv = scan_run(c, &a);
        } else if (strcmp(a.command, "watch") == 0) {
                rv = watch_run(c, &a);
        } else if (strcmp(a.command, "status") == 0) {
                rv = commands_status(c, &a);
        } else if (strcmp(a.command, "txn") == 0) {
                rv = txn_run(c, &a);
        } else if (strcmp(a.command, "user") == 0 || strcmp(a.command, "role") == 0) {
                rv = users_run(c, &a);
        } else if (strcmp(a.command, "member") == 0) {
                rv = members_run(c, &a);
        } else if (strcmp(a.command, "transfer-leader") == 0) {
                rv = members_transfer_leader(c, &a);
        } else if (strcmp(a.command, "move") == 0) {
                rv = members_move(c, &a);
        } else if (strcmp(a.command, "lease") == 0) {
                rv = leases_run(c, &a);
        } else {
                rv = commands_write(c, &a);
        }
cleanup:
        memset(password, 0, sizeof(password));
        tkv_client_destroy(c);
        if (a.token_error[0] != '\0' && !a.json) {
                fprintf(stderr, "tunekv: %s\n", a.token_error);
        }
        if (fflush(stdout) != 0 && rv == CLI_EXIT_OK) {
                rv = CLI_EXIT_OTHER;
        }
        return rv;
}
