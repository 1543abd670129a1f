/*
 * The architecture's own ceiling for bench/run: the least a FastCGI responder behind
 * this nginx can do per request, written in C on the same libfcgi and libpq, with the
 * same number of threads and database connections as the pool.
 *
 *   reference-responder SOCKET DATABASE_URL THREADS
 *
 * GET /health answers {"status":"ok"}; GET /customers/{id} runs the service's SELECT
 * (prepared once per connection) and writes the row as JSON. No authentication, no
 * routing table, no validation beyond what the SELECT does, no JSON escaping: a
 * benchmark fixture, never a server.
 */
#include <fcgiapp.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_socket;
static const char *database_url;

static int write_customer(PGconn *db, const char *id, char *body, size_t size) {
    const char *params[1] = {id};
    PGresult *result = PQexecPrepared(db, "customer", 1, params, NULL, NULL, 0);
    int length = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        length = snprintf(body, size,
            "{\"id\":\"%s\",\"email\":\"%s\",\"name\":\"%s\",\"metadata\":%s,\"currency\":null,"
            "\"balance_cents\":%s,\"created_at\":\"%s\"}",
            PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 1), PQgetvalue(result, 0, 2),
            PQgetvalue(result, 0, 3), PQgetvalue(result, 0, 5), PQgetvalue(result, 0, 6));
    }
    PQclear(result);
    return length;
}

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_socket, 0);
    PGconn *db = PQconnectdb(database_url);
    PQclear(PQprepare(db, "customer",
        "SELECT id, email, name, metadata, currency, balance_cents, created_at FROM customers WHERE id = $1",
        1, NULL));
    char body[2048];
    while (FCGX_Accept_r(&request) >= 0) {
        const char *uri = FCGX_GetParam("DOCUMENT_URI", request.envp);
        int length = -1;
        if (uri && strncmp(uri, "/customers/", 11) == 0) {
            length = write_customer(db, uri + 11, body, sizeof body);
        } else if (uri && strcmp(uri, "/health") == 0) {
            length = snprintf(body, sizeof body, "{\"status\":\"ok\"}");
        }
        if (length < 0) {
            FCGX_FPrintF(request.out, "Status: 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        } else {
            FCGX_FPrintF(request.out,
                "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", length, body);
        }
        FCGX_Finish_r(&request);
    }
    PQfinish(db);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET DATABASE_URL THREADS\n", argv[0]);
        return 2;
    }
    FCGX_Init();
    unlink(argv[1]);
    listen_socket = FCGX_OpenSocket(argv[1], 1024);
    if (listen_socket < 0 || chmod(argv[1], 0666) != 0) {
        perror("listen");
        return 1;
    }
    database_url = argv[2];
    int threads = atoi(argv[3]);
    pthread_t workers[256];
    if (threads < 1 || threads > 256) return 2;
    for (int index = 0; index < threads; index++) pthread_create(&workers[index], NULL, serve, NULL);
    for (int index = 0; index < threads; index++) pthread_join(workers[index], NULL);
    return 0;
}
