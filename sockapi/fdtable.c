/*
 * The descriptor table: small integers naming socket objects.
 *
 * It is process-wide, like the kernel's, because a descriptor must be usable
 * from any thread without naming its net; that makes the table and the
 * default net the two pieces of global mutable state in tapstack, both behind
 * table_lock.
 *
 * Reuse without use-after-free: a call never keeps a descriptor number, it
 * takes a counted reference on the object the number names (ts_fd_acquire).
 * ts_close removes the number at once (so it can be handed out again, lowest
 * first, as POSIX asks) and marks the object closed; a call still in flight on
 * the old object sees `closed` and fails with EBADF, and the object is freed
 * only when its last reference goes.
 *
 * table_lock is a leaf lock (see sockapi_internal.h): nothing is taken while
 * it is held, so it may be taken under a net lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "sockapi_internal.h"

/* Descriptors available at once (EMFILE beyond), like a process's RLIMIT_NOFILE. */
#define TS_FD_LIMIT (1 << 20) /* enough for the 100k-connection benchmark; the table grows by doubling */
#define TS_FD_INITIAL 64

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_idle = PTHREAD_COND_INITIALIZER; /* a net's live_sockets dropped */
static struct ts_sock **table;
static size_t table_size;
static size_t table_used;
/* Every slot below this one is taken: the search for the lowest free one starts here, not at 0. */
static size_t lowest_maybe_free;
static struct ts_net *default_net;
/*
 * The mark of a descriptor accept has reserved but not filled yet. Only its
 * address is used (never its fields): acquire, unpublish and the net sweep
 * treat it as an empty slot that is not free.
 */
static struct ts_sock fd_reserved;

/* Makes room for at least one more descriptor. table_lock held. */
static int grow_table(void)
{
    if (table_used < table_size)
        return 0;
    if (table_size >= TS_FD_LIMIT)
        return -EMFILE;
    size_t size = table_size == 0 ? TS_FD_INITIAL : table_size * 2;
    if (size > TS_FD_LIMIT)
        size = TS_FD_LIMIT;
    struct ts_sock **bigger = realloc(table, size * sizeof(*bigger));
    if (bigger == NULL)
        return -ENOMEM;
    for (size_t i = table_size; i < size; i++)
        bigger[i] = NULL;
    table = bigger;
    table_size = size;
    return 0;
}

struct ts_sock *ts_sock_new(struct ts_net *net, int *err)
{
    struct ts_sock *sock = calloc(1, sizeof(*sock));
    if (sock == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&table_lock);
    /* Read under the same lock that ts_net_stop retires it under, so the net cannot vanish in between. */
    if (net == NULL)
        net = default_net;
    if (net == NULL || net->dead) {
        pthread_mutex_unlock(&table_lock);
        free(sock);
        *err = -ENETDOWN;
        return NULL;
    }
    net->live_sockets++;
    pthread_mutex_unlock(&table_lock);
    sock->net = net;
    sock->refs = 1;
    return sock;
}

/* Puts sock in the lowest free slot. table_lock held. */
static int take_lowest_slot(struct ts_sock *sock)
{
    int rc = grow_table();
    if (rc < 0)
        return rc;
    size_t fd = lowest_maybe_free;
    while (table[fd] != NULL)
        fd++;
    table[fd] = sock;
    table_used++;
    lowest_maybe_free = fd + 1;
    return (int)fd;
}

/* Empties a slot and keeps the search hint below it. table_lock held. */
static void free_slot(size_t fd)
{
    table[fd] = NULL;
    table_used--;
    if (fd < lowest_maybe_free)
        lowest_maybe_free = fd;
}

int ts_fd_publish(struct ts_sock *sock)
{
    pthread_mutex_lock(&table_lock);
    int rc = sock->net->dead ? -ENETDOWN : take_lowest_slot(sock);
    pthread_mutex_unlock(&table_lock);
    return rc;
}

int ts_fd_reserve(void)
{
    pthread_mutex_lock(&table_lock);
    int rc = take_lowest_slot(&fd_reserved);
    pthread_mutex_unlock(&table_lock);
    return rc;
}

/* Frees a reserved slot. table_lock held. */
static void drop_reservation(int fd)
{
    if (fd >= 0 && (size_t)fd < table_size && table[fd] == &fd_reserved)
        free_slot((size_t)fd);
}

int ts_fd_fill(int fd, struct ts_sock *sock)
{
    pthread_mutex_lock(&table_lock);
    int rc = fd;
    if (sock->net->dead) {
        drop_reservation(fd);
        rc = -ENETDOWN;
    } else {
        table[fd] = sock;
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

void ts_fd_unreserve(int fd)
{
    pthread_mutex_lock(&table_lock);
    drop_reservation(fd);
    pthread_mutex_unlock(&table_lock);
}

struct ts_sock *ts_fd_acquire(int fd)
{
    if (fd < 0)
        return NULL;
    pthread_mutex_lock(&table_lock);
    struct ts_sock *sock = (size_t)fd < table_size ? table[fd] : NULL;
    if (sock == &fd_reserved)
        sock = NULL;
    if (sock != NULL)
        sock->refs++;
    pthread_mutex_unlock(&table_lock);
    return sock;
}

void ts_fd_release(struct ts_sock *sock)
{
    if (sock == NULL)
        return;
    pthread_mutex_lock(&table_lock);
    bool last = --sock->refs == 0;
    if (last) {
        struct ts_net *net = sock->net;
        net->live_sockets--;
        if (net->live_sockets == 0)
            pthread_cond_broadcast(&table_idle);
    }
    pthread_mutex_unlock(&table_lock);
    if (last)
        free(sock);
}

struct ts_sock *ts_fd_unpublish(int fd)
{
    if (fd < 0)
        return NULL;
    pthread_mutex_lock(&table_lock);
    struct ts_sock *sock = NULL;
    if ((size_t)fd < table_size && table[fd] != NULL && table[fd] != &fd_reserved) {
        sock = table[fd];
        free_slot((size_t)fd);
    }
    pthread_mutex_unlock(&table_lock);
    return sock;
}

void ts_fd_retire_net(struct ts_net *net)
{
    pthread_mutex_lock(&table_lock);
    net->dead = true;
    if (default_net == net)
        default_net = NULL;
    pthread_mutex_unlock(&table_lock);
}

struct ts_sock *ts_fd_take_next(struct ts_net *net, size_t *cursor)
{
    struct ts_sock *sock = NULL;
    pthread_mutex_lock(&table_lock);
    /* The net is retired, so no descriptor of it can appear behind the cursor. */
    for (; *cursor < table_size; (*cursor)++) {
        if (table[*cursor] != NULL && table[*cursor]->net == net) {
            sock = table[*cursor];
            free_slot(*cursor);
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return sock;
}

void ts_fd_wait_net_idle(struct ts_net *net)
{
    pthread_mutex_lock(&table_lock);
    while (net->live_sockets > 0)
        pthread_cond_wait(&table_idle, &table_lock);
    pthread_mutex_unlock(&table_lock);
}

void ts_fd_set_default(struct ts_net *net)
{
    pthread_mutex_lock(&table_lock);
    default_net = net;
    pthread_mutex_unlock(&table_lock);
}

struct ts_net *ts_fd_default(void)
{
    pthread_mutex_lock(&table_lock);
    struct ts_net *net = default_net;
    pthread_mutex_unlock(&table_lock);
    return net;
}

void ts_fd_offer_default(struct ts_net *net)
{
    pthread_mutex_lock(&table_lock);
    if (default_net == NULL)
        default_net = net;
    pthread_mutex_unlock(&table_lock);
}
