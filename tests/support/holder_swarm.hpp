// Thousands of raw lock holders on one epoll set, for stress tests: opened as one burst
// (which is what makes a server's keepalive timers fire together), then watched for
// anything the server sends them, and asked to prove they are still there.
//
// Every wait has a deadline; nothing here blocks without one.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tnl::test {

class HolderSwarm {
 public:
  /// Holders of the server at 127.0.0.1:`port`.
  explicit HolderSwarm(std::uint16_t port);
  ~HolderSwarm();
  HolderSwarm(const HolderSwarm&) = delete;
  HolderSwarm& operator=(const HolderSwarm&) = delete;

  /// Opens `count` connections, each sending `lock,name:PREFIXi` and reading `ok`, with
  /// at most `window` of them connecting or waiting for their answer at once. Source ports
  /// are bound in order through the ephemeral range (Linux's own port search gets slow past
  /// some 14,000 connections to one address). Returns an empty string on success, else
  /// what went wrong; gives up at `deadline`.
  std::string open(int count, int window, const std::string& prefix, std::chrono::steady_clock::time_point deadline);

  /// Waits until `until`; returns a description of every holder that got data, EOF or an
  /// error meanwhile (empty: nobody heard anything, which is what an idle holder expects).
  std::vector<std::string> watch(std::chrono::steady_clock::time_point until);

  /// Sends `.keepalive` on every holder as fast as it can, then reads one answer from each;
  /// returns how many answered `alive` by `deadline`.
  int keepalive_all(std::chrono::steady_clock::time_point deadline);

  /// Number of holders opened (answered `ok`).
  [[nodiscard]] std::size_t size() const { return held_; }

  /// Closes every holder with a reset (no TIME_WAIT left to tie up source ports).
  void close_all();

 private:
  enum class State { connecting, awaiting_ok, holding, failed };
  struct Holder {
    int fd = -1;
    State state = State::connecting;
    std::string input;
  };

  /// A non-blocking socket bound to the next free loopback source port, connecting.
  int connect_next();
  /// Acts on an epoll event of holder `index` while opening; returns an error or "".
  std::string on_open_event(std::size_t index, std::uint32_t events, const std::string& prefix);

  int epoll_ = -1;
  std::uint16_t port_;
  std::vector<Holder> holders_;  ///< index = the N of its lock name
  std::size_t held_ = 0;
  unsigned port_low_ = 32768;
  unsigned port_high_ = 60999;
  unsigned next_source_port_ = 32768;
};

/// Raises this process's soft open-file limit to its hard limit; returns the new soft limit.
std::size_t raise_open_file_limit();

}  // namespace tnl::test
