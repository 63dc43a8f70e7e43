/* The public listener's accept thread: takes connections off a listening socket and hands
 * each to a callback, never holding more than a set number open at once. */
#ifndef TTR_ACCEPTOR_H
#define TTR_ACCEPTOR_H
#include <stddef.h>
#include <sys/socket.h>

struct acceptor;

/* Takes over the accepted connection fd (non-blocking, close-on-exec) from the client
 * at addr. Returns 0 when it holds the connection: the connection then counts until
 * acceptor_closed; -1 when it refused it, fd closed. */
typedef int (*acceptor_hand_fn)(void *cls, int fd, const struct sockaddr *addr, socklen_t len);

/* The handle, not yet accepting (new: acceptor_free frees it), or NULL when out of memory.
 * While max_open handed connections are open, further clients wait in the listening
 * socket's backlog. cls is borrowed for the handle's lifetime. */
struct acceptor *acceptor_new(int max_open, acceptor_hand_fn hand, void *cls);
/* Starts the thread "ttr-accept" on the listening socket fd (steals it, even on failure:
 * acceptor_stop closes it). Separate from acceptor_new so that the handle can be
 * stored where acceptor_closed's callers find it before the first connection arrives.
 * Returns 0, or -1 with a reason in err. */
int acceptor_start(struct acceptor *a, int fd, char *err, size_t errlen);
/* One handed connection has closed: its place is free. Any thread, until acceptor_free. */
void acceptor_closed(struct acceptor *a);
/* Stops accepting: joins the thread (if started) and closes the listening socket, so that
 * clients still in its backlog are refused. a stays valid for acceptor_closed. NULL: nothing. */
void acceptor_stop(struct acceptor *a);
/* Frees a once stopped and once no connection can close any more (NULL: nothing). */
void acceptor_free(struct acceptor *a);

#endif
