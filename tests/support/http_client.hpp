// A small blocking HTTP/1.1 client over real loopback sockets, for tests.
// Deliberately independent of Beast, so the server is checked by other code.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace aegis::test {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

// One TCP connection to 127.0.0.1. Reads time out (default 5 s) so a broken
// server fails the test instead of hanging it.
class Connection {
 public:
  explicit Connection(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  ~Connection();

  [[nodiscard]] bool connected() const { return fd_ >= 0; }
  // Sends raw bytes; false if the peer has gone.
  bool send(std::string_view bytes);
  // Reads one response. nullopt on EOF, timeout or a malformed reply.
  std::optional<HttpReply> read_reply(bool head_request = false);
  // Sends a GET for `target` (keep-alive) and reads the reply.
  std::optional<HttpReply> get(std::string_view target);
  // True if the server closed the connection (EOF) within the timeout and
  // nothing but `allowed_prefix` bytes were left unread.
  bool closed_by_peer();
  // Bytes received but not yet parsed.
  [[nodiscard]] const std::string& pending() const { return buffer_; }

 private:
  bool fill();  // reads more into buffer_; false on EOF/timeout/error

  int fd_ = -1;
  std::string buffer_;
};

// Opens a connection, sends a GET with Connection: close, returns the reply.
std::optional<HttpReply> http_get(std::uint16_t port, std::string_view target);

}  // namespace aegis::test
