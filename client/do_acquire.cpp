#include "do_acquire.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "cli_support.hpp"
#include "wait_status.hpp"

namespace tnl::cli {

LockAcquisition::LockAcquisition(asio::io_context& io, LockClient& client, const DoOptions& options)
    : io_(io), client_(client), options_(options), retry_timer_(io) {}

void LockAcquisition::interrupt(int sig) {
  if (interrupted_by_ == 0) interrupted_by_ = sig;
  client_.cancel();
  retry_timer_.cancel();
}

int LockAcquisition::interrupted() {
  client_.close();
  print_error("interrupted by signal " + std::to_string(interrupted_by_) + " before the command started");
  return do_exit::cannot_run;
}

std::variant<LockResult, int> LockAcquisition::run() {
  const LockRequest request = lock_request(options_.lock_name, options_.client_id, options_.lock);
  const bool waits = !request.wait_seconds || *request.wait_seconds > 0;
  for (int attempt = 0;; ++attempt) {
    LockResult result;
    std::optional<WaitStatusLine> status_line;
    try {
      client_.connect(options_.host, options_.port);
      if (waits && WaitStatusLine::wanted(STDERR_FILENO)) {
        status_line.emplace(io_, client_.endpoint(), options_.lock_name, stderr);
        status_line->start();
      }
      result = client_.lock(request);
    } catch (const ClientError& e) {
      status_line.reset();  // erases the line before anything else is printed
      if (interrupted_by_) return interrupted();
      print_error(e.what());
      return e.kind() == ClientError::Kind::refused ? do_exit::refused : do_exit::cannot_run;
    }
    status_line.reset();
    if (interrupted_by_) return interrupted();
    if (result.granted) return result;
    if (attempt >= options_.retry) {
      print_error("lock '" + options_.lock_name + "' not granted by server" + (waits ? " within the wait" : ""));
      return options_.lock.conflict_exit_code;  // 123 unless -E says otherwise
    }
    spdlog::info("lock '{}' not granted; {} retries left, next in {:g} s", options_.lock_name,
                 options_.retry - attempt, options_.retry_wait);
    if (!wait_before_retry()) return interrupted();
  }
}

bool LockAcquisition::wait_before_retry() {
  bool waited = false;
  retry_timer_.expires_after(seconds(options_.retry_wait));
  retry_timer_.async_wait([&](const asio::error_code&) { waited = true; });
  while (!waited) {
    if (io_.stopped()) io_.restart();
    io_.run_one();
  }
  return interrupted_by_ == 0;
}

std::variant<LockResult, int> acquire_lock(asio::io_context& io, LockClient& client, const DoOptions& options,
                                           SignalRouter& signals) {
  LockAcquisition acquisition(io, client, options);
  signals.route([&](int sig) { acquisition.interrupt(sig); });
  auto acquired = acquisition.run();
  signals.route(nullptr);  // the io_context next runs in the next step, which routes them anew
  if (std::holds_alternative<int>(acquired)) return acquired;
  const LockResult& result = std::get<LockResult>(acquired);
  // Stopped while queued, we may have been granted the lock and have lost it already (the
  // holder timeout, an admin): then `lost,...` is waiting behind the `ok`.
  if (const auto lost = client.lost_already()) {
    client.close();
    print_error("lost lock '" + options.lock_name + "' before the command started: " + *lost);
    return do_exit::lock_lost;
  }
  if (result.token) {
    spdlog::info("lock '{}' granted with token {}; running the command", options.lock_name, *result.token);
  } else {
    spdlog::info("lock '{}' granted; running the command", options.lock_name);
  }
  return acquired;
}

}  // namespace tnl::cli
