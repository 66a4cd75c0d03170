/* A small, independent load client for paced SSE streams (used by scripts/bench-pacing.py).
 *
 *   pacing-client HOST PORT STREAMS SECONDS SPREAD_MS BODY_FILE
 *
 * Keeps STREAMS chat-completion streams open at once for SECONDS: each slot sends a request
 * on a new connection, reads the stream to its end, and starts the next; the slots' first
 * requests are spread over SPREAD_MS so the server sees a steady load. Plain sockets and
 * epoll, so the client's own cost does not colour what it measures (a Python client needed
 * more CPU than the server it measured at 512 streams).
 *
 * Output, one line per finished stream:
 *   S <head_us> <ttft_us> <gap_us> <gap_us> ...
 * times from the request's write to the response head, to the first content delta, and
 * between consecutive content deltas. A stream with no content delta prints "E".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKENS 4096
#define BUF 65536

struct slot {
    int fd;
    double start_at;   /* when this slot sends its next request */
    double sent, head, last;
    int tokens;
    long gaps[MAX_TOKENS];
    double ttft;
    char line[8192];   /* the current, unfinished line */
    size_t line_len;
    int active;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *request;
static size_t request_len;
static struct sockaddr_in addr;
static int ep;

static int open_stream(struct slot *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    s->sent = now();
    s->head = 0;
    s->tokens = 0;
    s->line_len = 0;
    s->active = 1;
    size_t off = 0;
    while (off < request_len) {
        ssize_t n = write(fd, request + off, request_len - off);
        if (n < 0) {
            if (errno == EAGAIN) continue;
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

/* A complete line arrived at time t. */
static void on_line(struct slot *s, const char *line, size_t len, double t) {
    static const char data[] = "data: {";
    static const char content[] = "\"content\":\"";
    if (len < sizeof data - 1 || memcmp(line, data, sizeof data - 1) != 0) return;
    const char *c = memmem(line, len, content, sizeof content - 1);
    if (!c) return;
    c += sizeof content - 1;
    if (c >= line + len || *c == '"') return; /* empty content: the role chunk */
    if (s->tokens == 0) s->ttft = t - s->sent;
    else if (s->tokens - 1 < MAX_TOKENS) s->gaps[s->tokens - 1] = (long)((t - s->last) * 1e6);
    s->last = t;
    s->tokens++;
}

static void finish(struct slot *s) {
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->active = 0;
    if (s->tokens == 0) {
        puts("E");
        return;
    }
    printf("S %ld %ld", (long)((s->head - s->sent) * 1e6), (long)(s->ttft * 1e6));
    int gaps = s->tokens - 1 < MAX_TOKENS ? s->tokens - 1 : MAX_TOKENS;
    for (int i = 0; i < gaps; i++) printf(" %ld", s->gaps[i]);
    putchar('\n');
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT STREAMS SECONDS SPREAD_MS BODY_FILE\n", argv[0]);
        return 2;
    }
    int streams = atoi(argv[3]);
    double seconds = atof(argv[4]), spread = atof(argv[5]) / 1000.0;
    FILE *f = fopen(argv[6], "rb");
    if (!f || streams < 1) return 2;
    static char body[1 << 16];
    size_t body_len = fread(body, 1, sizeof body, f);
    fclose(f);
    request = malloc(body_len + 512);
    request_len = (size_t)sprintf(request,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer bench\r\n"
        "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
        argv[1], body_len);
    memcpy(request + request_len, body, body_len);
    request_len += body_len;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    ep = epoll_create1(0);

    struct slot *slots = calloc((size_t)streams, sizeof *slots);
    double t0 = now(), until = t0 + seconds;
    for (int i = 0; i < streams; i++) slots[i].start_at = t0 + spread * i / streams;
    static char buf[BUF];
    struct epoll_event events[256];
    for (;;) {
        double t = now();
        int waiting = 0;
        double next_start = 1e300;
        for (int i = 0; i < streams; i++) {
            struct slot *s = &slots[i];
            if (s->active) { waiting = 1; continue; }
            if (s->start_at > until) continue;
            if (s->start_at <= t) {
                s->start_at = until + 1; /* the next start is set when this stream ends */
                if (open_stream(s) == 0) waiting = 1;
            } else {
                waiting = 1;
                if (s->start_at < next_start) next_start = s->start_at;
            }
        }
        if (!waiting) break;
        int timeout = next_start < 1e299 ? (int)((next_start - t) * 1000) : 1000;
        if (timeout < 0) timeout = 0;
        int n = epoll_wait(ep, events, 256, timeout);
        double at = now();
        for (int e = 0; e < n; e++) {
            struct slot *s = events[e].data.ptr;
            for (;;) {
                ssize_t got = read(s->fd, buf, sizeof buf);
                if (got < 0 && errno == EAGAIN) break;
                if (got <= 0) {
                    finish(s);
                    if (at < until) s->start_at = at; /* the slot goes again */
                    break;
                }
                if (s->head == 0) s->head = at;
                for (ssize_t i = 0; i < got; i++) {
                    char c = buf[i];
                    if (c == '\n') {
                        on_line(s, s->line, s->line_len, at);
                        s->line_len = 0;
                    } else if (s->line_len < sizeof s->line) {
                        s->line[s->line_len++] = c;
                    }
                }
            }
        }
    }
    return 0;
}
