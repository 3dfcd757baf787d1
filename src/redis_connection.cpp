#include "redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cassert>

#include "aegis/redis_reply.hpp"
#include "aegis/token_bucket_lua.hpp"

namespace aegis::detail {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using std::chrono::milliseconds;

namespace {

// Reconnection backoff: doubles from kBackoffBase up to kBackoffCap, with
// jitter so that many instances do not reconnect in lockstep. The cap keeps
// recovery after a Redis restart well under 2 s.
constexpr milliseconds kBackoffBase{50};
constexpr milliseconds kBackoffCap{1000};

// A connection that has answered nothing for this long is presumed dead
// (paused, partitioned) and replaced. Larger than any sane deadline.
milliseconds stuck_after(const RedisSettings& s) { return std::max(milliseconds(1000), s.timeout * 20); }
// Time allowed to resolve, connect and authenticate.
milliseconds attempt_timeout(const RedisSettings& s) {
  return std::max(milliseconds(1000), s.timeout * 4);
}

enum HandshakeStep : std::intptr_t { kAuth = 1, kSelect = 2, kScriptLoad = 3 };

Decision unavailable(const Policy& policy) {
  Decision d;
  d.outcome = Decision::Outcome::kUnavailable;
  d.limit = policy.capacity;
  return d;
}

}  // namespace

RedisConnection::RedisConnection(asio::io_context& ioc, std::shared_ptr<RedisShared> shared)
    : shared_(std::move(shared)),
      strand_(asio::make_strand(ioc)),
      resolver_(strand_),
      fd_(strand_),
      deadline_timer_(strand_),
      retry_timer_(strand_),
      rng_(reinterpret_cast<std::uintptr_t>(this) | 1) {}

RedisConnection::~RedisConnection() {
  // Only reached with a live context if the event loop stopped before stop()
  // ran. Free it without calling back into this half-destroyed object.
  if (ac_ != nullptr) {
    for (Pending& p : pending_) p.done = true;
    ac_->onDisconnect = nullptr;
    ac_->ev = {};
    release_fd();
    redisAsyncFree(ac_);
  }
}

void RedisConnection::start() {
  asio::post(strand_, [self = shared_from_this()] { self->resolve(); });
}

void RedisConnection::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->retry_timer_.cancel();
    self->deadline_timer_.cancel();
    self->resolver_.cancel();
    if (self->ac_ != nullptr) {
      redisAsyncFree(self->ac_);  // pending checks complete as unavailable
    }
  });
}

void RedisConnection::submit(std::string_view key, DecisionHandler handler) {
  const auto now = std::chrono::steady_clock::now();
  std::string full_key;
  full_key.reserve(shared_->settings.key_prefix.size() + key.size());
  full_key.append(shared_->settings.key_prefix).append(key);
  asio::post(strand_, [self = shared_from_this(), key = std::move(full_key), now,
                       h = std::move(handler)]() mutable {
    if (self->ac_ == nullptr || !self->ready()) {
      h(unavailable(self->shared_->policy));
      return;
    }
    self->send(key, now + self->shared_->settings.timeout, now, std::move(h), false);
  });
}

// ---- Connection lifecycle --------------------------------------------------

void RedisConnection::resolve() {
  if (stopped_) return;
  // One deadline for the whole attempt: resolve, connect, AUTH, SELECT, SCRIPT LOAD.
  retry_timer_.expires_after(attempt_timeout(shared_->settings));
  retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (ec || self->stopped_ || self->ready()) return;
    if (self->ac_ != nullptr) {
      self->drop("no answer to connect and handshake in time");
    } else {
      self->resolver_.cancel();
    }
  });
  // Resolved here, asynchronously: hiredis would resolve a hostname with a
  // blocking getaddrinfo inside redisAsyncConnect.
  resolver_.async_resolve(
      shared_->settings.host, std::to_string(shared_->settings.port),
      [self = shared_from_this()](error_code ec, const asio::ip::tcp::resolver::results_type& r) {
        if (self->stopped_) return;
        if (ec || r.empty()) {
          if (self->shared_->connect_log.allow()) {
            spdlog::warn("cannot resolve Redis host {}: {}; retrying", self->shared_->endpoint,
                         ec ? ec.message() : "no addresses");
          }
          return self->schedule_reconnect();
        }
        self->connect(r.begin()->endpoint());
      });
}

void RedisConnection::connect(const asio::ip::tcp::endpoint& endpoint) {
  const std::string ip = endpoint.address().to_string();
  ac_ = redisAsyncConnect(ip.c_str(), endpoint.port());
  if (ac_ == nullptr || ac_->err != 0) {
    if (shared_->connect_log.allow()) {
      spdlog::warn("cannot connect to Redis at {}: {}; retrying", shared_->endpoint,
                   ac_ != nullptr ? ac_->errstr : "out of memory");
    }
    if (ac_ != nullptr) redisAsyncFree(ac_);
    ac_ = nullptr;
    return schedule_reconnect();
  }
  ++generation_;
  fd_.assign(ac_->c.fd);
  ac_->data = this;
  ac_->ev.data = this;
  ac_->ev.addRead = &ev_add_read;
  ac_->ev.delRead = &ev_del_read;
  ac_->ev.addWrite = &ev_add_write;
  ac_->ev.delWrite = &ev_del_write;
  ac_->ev.cleanup = &ev_cleanup;
  redisAsyncSetDisconnectCallback(ac_, &disconnect_cb);
  // Also asks for the first write event, which signals the connection is up.
  redisAsyncSetConnectCallback(ac_, &connect_cb);
}

void RedisConnection::on_connect(int status) {
  if (status != REDIS_OK) {
    if (shared_->connect_log.allow()) {
      spdlog::warn("cannot connect to Redis at {}: {}; retrying", shared_->endpoint, ac_->errstr);
    }
    return;  // hiredis frees the context next; ev_cleanup schedules the retry
  }
  const RedisSettings& s = shared_->settings;
  if (!s.password.empty()) {
    if (s.username.empty()) {
      const char* argv[] = {"AUTH", s.password.c_str()};
      const size_t len[] = {4, s.password.size()};
      redisAsyncCommandArgv(ac_, &handshake_cb, reinterpret_cast<void*>(kAuth), 2, argv, len);
    } else {
      const char* argv[] = {"AUTH", s.username.c_str(), s.password.c_str()};
      const size_t len[] = {4, s.username.size(), s.password.size()};
      redisAsyncCommandArgv(ac_, &handshake_cb, reinterpret_cast<void*>(kAuth), 3, argv, len);
    }
  }
  if (s.db != 0) {
    const std::string db = std::to_string(s.db);
    const char* argv[] = {"SELECT", db.c_str()};
    const size_t len[] = {6, db.size()};
    redisAsyncCommandArgv(ac_, &handshake_cb, reinterpret_cast<void*>(kSelect), 2, argv, len);
  }
  const char* argv[] = {"SCRIPT", "LOAD", kTokenBucketLua.data()};
  const size_t len[] = {6, 4, kTokenBucketLua.size()};
  redisAsyncCommandArgv(ac_, &handshake_cb, reinterpret_cast<void*>(kScriptLoad), 3, argv, len);
}

void RedisConnection::on_handshake_reply(redisReply* reply, std::intptr_t step) {
  if (reply == nullptr || stopped_) return;  // the context is being freed
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view err(reply->str, reply->len);
    const RedisSettings& s = shared_->settings;
    if (shared_->connect_log.allow()) {
      if (step == kAuth) {
        spdlog::error(
            "Redis at {} refused AUTH {}: {}. Check REDIS_USERNAME and REDIS_PASSWORD. "
            "Retrying with backoff; meanwhile checks follow FAIL_MODE",
            shared_->endpoint,
            s.username.empty() ? std::string("(password only)") : "as user '" + s.username + "'",
            err);
      } else if (err.starts_with("NOAUTH")) {
        spdlog::error("Redis at {} requires authentication ({}): set REDIS_PASSWORD", shared_->endpoint,
                      err);
      } else {
        spdlog::error("Redis at {} refused the connection setup ({}): {}", shared_->endpoint,
                      step == kSelect ? "SELECT " + std::to_string(s.db) : "SCRIPT LOAD", err);
      }
    }
    return drop("handshake refused");
  }
  if (step != kScriptLoad) return;
  if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
    return drop("unexpected reply to SCRIPT LOAD");
  }
  sha_.assign(reply->str, reply->len);
  retry_timer_.cancel();
  failures_ = 0;
  if (ever_ready_) {
    shared_->reconnects.fetch_add(1, std::memory_order_relaxed);
  }
  ever_ready_ = true;
  shared_->connected.fetch_add(1, std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);
  spdlog::info("connected to Redis at {} (db {})", shared_->endpoint, shared_->settings.db);
}

void RedisConnection::drop(std::string_view why) {
  if (ac_ == nullptr) return;
  spdlog::debug("dropping the Redis connection to {}: {}", shared_->endpoint, why);
  // Frees now, or when the current hiredis callback returns. Pending checks
  // get a null reply (answered unavailable); ev_cleanup schedules the retry.
  redisAsyncFree(ac_);
}

void RedisConnection::on_disconnect() {
  // Nothing to do: ev_cleanup, which hiredis calls on every teardown path
  // (including a failed connect, which has no disconnect callback), handles it.
}

void RedisConnection::schedule_reconnect() {
  if (stopped_) return;
  ++failures_;
  const int exponent = std::min(failures_ - 1, 10);
  auto delay = std::min(kBackoffCap, kBackoffBase * (1 << exponent));
  // Jitter: 75%..100% of the delay.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  delay -= milliseconds(static_cast<long>(rng_ % static_cast<std::uint64_t>(delay.count() / 4 + 1)));
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->resolve();
  });
}

// ---- Checks -----------------------------------------------------------------

void RedisConnection::send(std::string_view key, SteadyTime deadline, SteadyTime sent,
                           DecisionHandler handler, bool full_script) {
  pending_.push_back(Pending{deadline, sent, std::move(handler), false, std::string(key)});
  Pending& p = pending_.back();
  const std::string_view script = full_script ? kTokenBucketLua : std::string_view(sha_);
  const char* argv[] = {full_script ? "EVAL" : "EVALSHA",  script.data(),
                        "1",                               p.key.data(),
                        shared_->capacity_arg.data(),      shared_->interval_arg.data()};
  const size_t len[] = {full_script ? 4U : 7U,         script.size(),
                        1,                             p.key.size(),
                        shared_->capacity_arg.size(),  shared_->interval_arg.size()};
  if (redisAsyncCommandArgv(ac_, &reply_cb, &p, 6, argv, len) != REDIS_OK) {
    shared_->errors.fetch_add(1, std::memory_order_relaxed);
    Pending failed = std::move(pending_.back());
    pending_.pop_back();
    answer_unavailable(failed);
    return;
  }
  arm_timer();
}

void RedisConnection::on_reply(redisReply* reply, Pending* p) {
  // Redis answers in order, so this is the oldest check in flight.
  assert(!pending_.empty() && &pending_.front() == p);
  if (!p->done) {
    if (is_noscript_error(reply) && ac_ != nullptr && !stopped_) {
      // Redis lost its script cache (restart, SCRIPT FLUSH, failover): send
      // the script itself, which caches it again, keeping the deadline.
      p->done = true;
      send(p->key, p->deadline, p->sent, std::move(p->handler), true);
    } else if (auto d = parse_script_reply(reply, shared_->policy)) {
      p->done = true;
      p->handler(*d);
    } else {
      if (reply != nullptr) {
        shared_->errors.fetch_add(1, std::memory_order_relaxed);
        if (shared_->error_log.allow()) {
          spdlog::warn("Redis answered the rate-limit script with an error: {}",
                       describe_reply(reply));
        }
      } else {
        shared_->errors.fetch_add(1, std::memory_order_relaxed);
      }
      answer_unavailable(*p);
    }
  }
  pending_.pop_front();
}

void RedisConnection::answer_unavailable(Pending& p) {
  p.done = true;
  Decision d;
  d.outcome = Decision::Outcome::kUnavailable;
  p.handler(d);
}

void RedisConnection::arm_timer() {
  if (pending_.empty() || stopped_) return;
  auto next = pending_.front().sent + stuck_after(shared_->settings);
  for (const Pending& p : pending_) {
    if (!p.done) {
      next = std::min(next, p.deadline);
      break;  // deadlines follow send order (a NOSCRIPT resend keeps an earlier one: checked below)
    }
  }
  if (!pending_.back().done) next = std::min(next, pending_.back().deadline);
  if (timer_armed_ && timer_expiry_ <= next) return;
  timer_armed_ = true;
  timer_expiry_ = next;
  const auto generation = ++timer_generation_;
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
    if (generation != self->timer_generation_) return;
    self->timer_armed_ = false;
    if (!ec && !self->stopped_) self->on_timer();
  });
}

void RedisConnection::on_timer() {
  const auto now = std::chrono::steady_clock::now();
  for (Pending& p : pending_) {
    if (!p.done && p.deadline <= now) {
      shared_->timeouts.fetch_add(1, std::memory_order_relaxed);
      answer_unavailable(p);
    }
  }
  if (!pending_.empty() && pending_.front().sent + stuck_after(shared_->settings) <= now) {
    if (shared_->connect_log.allow()) {
      spdlog::warn("Redis at {} has not answered for {} ms: reconnecting", shared_->endpoint,
                   stuck_after(shared_->settings).count());
    }
    drop("stuck");
    return;
  }
  arm_timer();
}

// ---- hiredis event-loop adapter ------------------------------------------------

void RedisConnection::ev_add_read(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->want_read_ = true;
  c->wait_read();
}

void RedisConnection::ev_del_read(void* self) { static_cast<RedisConnection*>(self)->want_read_ = false; }

void RedisConnection::ev_add_write(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->want_write_ = true;
  c->wait_write();
}

void RedisConnection::ev_del_write(void* self) { static_cast<RedisConnection*>(self)->want_write_ = false; }

void RedisConnection::ev_cleanup(void* self) {
  // hiredis is tearing the context down (after answering pending callbacks
  // with null replies). It closes the socket itself; we only let go of it.
  auto* c = static_cast<RedisConnection*>(self);
  if (c->ac_ != nullptr && c->ac_->err != 0 && c->ready() && c->shared_->connect_log.allow()) {
    spdlog::warn("lost the connection to Redis at {}: {}; reconnecting", c->shared_->endpoint,
                 c->ac_->errstr);
  }
  c->release_fd();
  c->ac_ = nullptr;
  ++c->generation_;
  c->want_read_ = c->want_write_ = false;
  c->read_waiting_ = c->write_waiting_ = false;
  if (c->ready_.exchange(false, std::memory_order_acq_rel)) {
    c->shared_->connected.fetch_sub(1, std::memory_order_relaxed);
  }
  c->schedule_reconnect();
}

void RedisConnection::release_fd() {
  if (fd_.is_open()) {
    error_code ignored;
    fd_.cancel(ignored);
    (void)fd_.release();
  }
}

void RedisConnection::wait_read() {
  if (read_waiting_ || ac_ == nullptr) return;
  read_waiting_ = true;
  fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                 [self = shared_from_this(), gen = generation_](error_code ec) {
                   if (gen != self->generation_) return;  // a previous context's wait
                   self->read_waiting_ = false;
                   if (ec || self->ac_ == nullptr || !self->want_read_) return;
                   redisAsyncHandleRead(self->ac_);
                   if (gen == self->generation_ && self->want_read_) self->wait_read();
                 });
}

void RedisConnection::wait_write() {
  if (write_waiting_ || ac_ == nullptr) return;
  write_waiting_ = true;
  fd_.async_wait(asio::posix::stream_descriptor::wait_write,
                 [self = shared_from_this(), gen = generation_](error_code ec) {
                   if (gen != self->generation_) return;
                   self->write_waiting_ = false;
                   if (ec || self->ac_ == nullptr || !self->want_write_) return;
                   redisAsyncHandleWrite(self->ac_);
                   if (gen == self->generation_ && self->want_write_) self->wait_write();
                 });
}

void RedisConnection::connect_cb(const redisAsyncContext* ac, int status) {
  static_cast<RedisConnection*>(ac->data)->on_connect(status);
}

void RedisConnection::disconnect_cb(const redisAsyncContext* ac, int /*status*/) {
  static_cast<RedisConnection*>(ac->data)->on_disconnect();
}

void RedisConnection::reply_cb(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisConnection*>(ac->data)->on_reply(static_cast<redisReply*>(reply),
                                                    static_cast<Pending*>(privdata));
}

void RedisConnection::handshake_cb(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisConnection*>(ac->data)->on_handshake_reply(
      static_cast<redisReply*>(reply), reinterpret_cast<std::intptr_t>(privdata));
}

}  // namespace aegis::detail
