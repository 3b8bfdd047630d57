// A single-threaded epoll server that speaks the modes of mode.h on any
// number of listeners. Level-triggered; every socket is non-blocking.
//
// TLS: a connection of a TLS mode gets a server-side SSL over its socket
// (SSL_set_fd) from the shared context of its TlsProfile, handshakes
// without blocking (WANT_READ waits for EPOLLIN, WANT_WRITE for EPOLLOUT),
// and then runs the same line dialogue through SSL_read/SSL_write.
//
// Memory: an idle connection costs one small Connection object; its input
// and output buffers are allocated only while a partial line or unsent
// output exists, and released as soon as they empty.

#ifndef SMTPSCAN_TOOLS_SMTP_TEST_SERVER_SERVER_H_
#define SMTPSCAN_TOOLS_SMTP_TEST_SERVER_SERVER_H_

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "mode.h"
#include "tls.h"

typedef struct ssl_st SSL;

namespace smtpscan::test_server {

class Server {
 public:
  explicit Server(std::string hostname);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Gives the server the context for `profile`'s modes. REQUIRES: called
  // before Listen() with a mode of that profile.
  void SetTlsContext(TlsProfile profile, SslCtxPtr ctx);

  // Binds and listens on `addr` (IPv6 sockets are IPV6_V6ONLY). On success
  // returns true and sets `*bound` to "ADDR:PORT" with the real port; on
  // failure returns false and sets `*error`.
  bool Listen(const sockaddr_storage& addr, socklen_t len, Mode mode,
              std::string* bound, std::string* error);

  // Serves until SIGTERM or SIGINT arrives or `max_seconds` pass, then closes
  // every socket. Returns false (with `*error`) if epoll itself fails.
  // REQUIRES: SIGTERM and SIGINT are blocked in every thread.
  bool Run(int max_seconds, std::string* error);

  // Counters for the exit summary.
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t peak() const { return peak_; }

 private:
  enum class State : std::uint8_t {
    kGreetingWait,  // timer pending before (the rest of) the greeting
    kDialogue,
    kDiscard,
    kIdle,
    kEndless,
    kClosing,       // close once `out` is empty; input is discarded
    kHandshake,     // TLS handshake (after `out`, the 220, has drained)
    kCloseOnInput,  // close when any input arrives
  };

  struct Connection {
    int fd = -1;
    std::uint32_t id = 0;        // unique; tells stale timers apart
    std::uint32_t listener = 0;  // index into listeners_
    std::uint32_t events = 0;    // the epoll mask last registered
    std::uint32_t filler = 0;    // endless-reply line counter
    State state = State::kDialogue;
    bool registered = false;  // added to epoll
    bool paced = false;       // slow: output leaves one byte per second
    bool pregreet_closes = false;
    bool paused = false;          // not reading: `out` is over kMaxOutput
    bool eof = false;             // the client closed its side
    bool tls_want_write = false;  // an SSL call waits for EPOLLOUT
    bool tls_notify = false;      // send close_notify when closing
    std::uint64_t timer_due = 0;  // monotonic ms, 0 when no timer
    SSL* ssl = nullptr;           // owned; set once TLS starts
    std::string in;               // partial line, or input held back
    std::string out;              // output the socket has not taken yet
  };

  struct Listener {
    int fd = -1;
    Mode mode;
  };

  struct Timer {
    std::uint64_t due;
    int fd;
    std::uint32_t id;
    bool operator>(const Timer& other) const { return due > other.due; }
  };

  void AcceptAll(std::uint32_t listener_index);
  void OnConnectionEvent(Connection& c, std::uint32_t events);
  void OnTimer(Connection& c);

  // Each of these returns false when it closed `c` (which is then gone).
  bool ReadInput(Connection& c);
  bool Consume(Connection& c, std::string_view data);
  bool ProcessLines(Connection& c, std::string_view data);
  bool Send(Connection& c, std::string_view data);
  bool FlushOut(Connection& c);
  bool PumpPaced(Connection& c);
  bool PumpFiller(Connection& c);
  bool AfterOutputDrained(Connection& c);
  bool OnPeerClosed(Connection& c);
  bool StartTls(Connection& c);
  bool ContinueHandshake(Connection& c);
  bool ReadTls(Connection& c);
  // Writes through TLS once the handshake is done, else to the socket.
  // Returns the bytes taken, or -1 on a fatal error.
  ssize_t Write(Connection& c, std::string_view data);

  void UpdateEvents(Connection& c);
  void ArmTimer(Connection& c, std::uint64_t delay_ms);
  void RunDueTimers(std::uint64_t now);
  void Close(Connection& c);
  void Reset(Connection& c);
  void PauseAccepting(bool pause);
  std::string ClientIp(int fd) const;

  std::string hostname_;
  SslCtxPtr tls_modern_;
  SslCtxPtr tls_legacy_;
  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::string reply_;  // scratch: replies to one batch of input
  std::uint32_t next_id_ = 1;
  std::uint64_t accepted_ = 0;
  std::uint64_t active_ = 0;
  std::uint64_t peak_ = 0;
  std::uint64_t accept_resume_ms_ = 0;  // nonzero: accepting paused (EMFILE)
};

}  // namespace smtpscan::test_server

#endif  // SMTPSCAN_TOOLS_SMTP_TEST_SERVER_SERVER_H_
