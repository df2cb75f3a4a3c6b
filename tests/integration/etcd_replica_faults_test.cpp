// Faults of a replica: kill -9 (its connection locks end with its lease, and the next
// waiter on another replica gets them within TTL + 1 s) and SIGSTOP past the TTL (its
// holders stop their commands before anyone else is granted; after SIGCONT it grants
// nothing stale and tells its holders `lost,backend unavailable`).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "etcd_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::etcd;
namespace fs = std::filesystem;

namespace {
/// Appends `line` + '\n' to `path` in one write (O_APPEND: ordered with the other writers).
void append_line(const fs::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  const std::string text = line + "\n";
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

TEST_CASE("faults: kill -9 of a replica frees its locks within TTL + 1 s for a waiter elsewhere", "[etcd][faults]") {
  constexpr int ttl = 2;
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("kill");
  Replica a(cluster, prefix, ttl), b(cluster, prefix, ttl);

  LineClient holder(a.port()), sem_holder(a.port());
  const auto first = holder.request("lock,name:k,fencing:1");
  REQUIRE(first.value_or("").rfind("ok,token:", 0) == 0);
  REQUIRE(sem_holder.request("lock,name:s,limit:1") == std::optional<std::string>("ok"));
  const auto detached = LineClient(a.port()).request("lock,name:d,ttl:60");
  REQUIRE_FALSE(id_of(detached).empty());
  LineClient waiter(b.port()), sem_waiter(b.port());
  waiter.send_line("lock,name:k,wait:30,fencing:1");
  sem_waiter.send_line("lock,name:s,wait:30");
  REQUIRE(wait_waiters(b, "k", 1));
  REQUIRE(wait_waiters(b, "s", 1));
  CHECK(waiter.stays_silent(300ms));

  const auto killed = Clock::now();
  a.kill();
  const auto granted = waiter.read_line(ttl * 1000ms + 3s);
  const double after = seconds_since(killed);
  REQUIRE(granted);
  CHECK(granted->rfind("ok,token:", 0) == 0);
  CHECK(token_of(granted) > token_of(first));
  CHECK(after <= ttl + 1.0);
  CHECK(sem_waiter.read_line(2s) == std::optional<std::string>("ok"));
  WARN("kill -9 of the holder's replica (lease TTL " << ttl << " s): the waiter on B granted after " << after << " s");
  // The detached lock is on its own lease: still held.
  CHECK(LineClient(b.port()).request("lock,name:d") == std::optional<std::string>("not-granted"));
  CHECK(LineClient(b.port()).request("unlock,id:" + id_of(detached)) == std::optional<std::string>("released"));

  // A restarted replica joins the same lock space.
  a.start();
  CHECK(LineClient(a.port()).request("lock,name:k") == std::optional<std::string>("not-granted"));
  LineClient again(a.port());
  again.send_line("lock,name:k,wait:30");
  REQUIRE(wait_waiters(b, "k", 1));
  waiter.close();
  CHECK(again.read_line(5s) == std::optional<std::string>("ok"));
}

TEST_CASE("faults: SIGSTOP of a replica past the TTL: its holders stopped first, nothing stale after SIGCONT",
          "[etcd][faults]") {
  constexpr int ttl = 3;
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("stop");
  Replica a(cluster, prefix, ttl), b(cluster, prefix, ttl);
  TempDir dir;
  const fs::path log = dir.path() / "log";

  // On A: a tcpnetlock_do whose command ticks into the log until stopped, with keepalives
  // every 0.3 s given up after 1 s, and a raw holder that sends nothing.
  ChildProcess holder_do = ChildProcess::start(
      at("tcpnetlock_do", a, {"--lock-name", "job", "--fencing", "--keep-alive-secs", "0.3", "--keep-alive-timeout", "1",
                              "--kill-grace", "0.5", "--shell",
                              "while :; do echo \"tick $TCPNETLOCK_TOKEN\" >> '" + log.string() + "'; sleep 0.02; done"}),
      clean_env());
  REQUIRE(wait_until([&] { return fs::exists(log); }, 10s));
  LineClient raw_holder(a.port());
  REQUIRE(raw_holder.request("lock,name:raw") == std::optional<std::string>("ok"));

  // On B: waiters for both names.
  LineClient waiter_job(b.port()), waiter_raw(b.port());
  waiter_job.send_line("lock,name:job,wait:60,fencing:1");
  waiter_raw.send_line("lock,name:raw,wait:60");
  REQUIRE(wait_waiters(b, "job", 1));
  REQUIRE(wait_waiters(b, "raw", 1));
  // And the other way: B holds `queued`, A has the first waiter, B the second.
  LineClient b_holder(b.port());
  REQUIRE(b_holder.request("lock,name:queued") == std::optional<std::string>("ok"));
  LineClient a_waiter(a.port());
  a_waiter.send_line("lock,name:queued,wait:60");
  REQUIRE(wait_waiters(b, "queued", 1));
  LineClient b_waiter(b.port());
  b_waiter.send_line("lock,name:queued,wait:60");
  REQUIRE(wait_waiters(b, "queued", 2));

  const auto stopped = Clock::now();
  a.pause();
  // B's holder leaves while A is stopped: A's waiter's key is now first in etcd, so B's
  // waiter is granted only once A's lease is gone; A never answers its waiter `ok`.
  CHECK(b_holder.request("release") == std::optional<std::string>("released"));
  CHECK(b_waiter.stays_silent(1s));
  // B's waiters get the names once A's lease is gone in etcd.
  const auto job = waiter_job.read_line(std::chrono::seconds(ttl) + 5s);
  REQUIRE(job);
  REQUIRE(job->rfind("ok,token:", 0) == 0);
  append_line(log, "granted-to-b");
  const double granted_after = seconds_since(stopped);
  CHECK(waiter_raw.read_line(3s) == std::optional<std::string>("ok"));
  CHECK(b_waiter.read_line(3s) == std::optional<std::string>("ok"));
  // The do holder had stopped its command before that: no tick after B's grant; and its
  // exit says the lock was lost.
  const auto do_status = holder_do.wait_for_exit(5s);
  REQUIRE(do_status);
  CHECK(do_status->exited(122));
  const auto lines = lines_of(log);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "granted-to-b");
  CHECK(std::count(lines.begin(), lines.end(), "granted-to-b") == 1);

  // While A is still stopped, a client asks it for the name B now holds (the kernel queues
  // the connection and the line).
  LineClient stale(a.port());
  stale.send_line("lock,name:job");
  LineClient stale_waiter(a.port());
  stale_waiter.send_line("lock,name:raw,wait:1");
  a.resume();
  const auto resumed = Clock::now();
  // The raw holder is told first thing, and nothing stale is granted.
  CHECK(raw_holder.read_line(5s) == std::optional<std::string>("lost,backend unavailable"));
  const auto stale_answer = stale.read_line(10s);
  REQUIRE(stale_answer);
  CHECK(*stale_answer != "ok");
  CHECK((*stale_answer == "not-granted" || *stale_answer == "err,backend unavailable"));
  const auto a_waiter_answer = a_waiter.read_line(10s);
  REQUIRE(a_waiter_answer);
  CHECK(*a_waiter_answer == "err,backend unavailable");
  const auto stale_waiter_answer = stale_waiter.read_line(10s);
  REQUIRE(stale_waiter_answer);
  CHECK(*stale_waiter_answer != "ok");
  // A comes back with a new lease: ready again, and it sees B's holds.
  CHECK(a.wait_ready(10s));
  CHECK(LineClient(a.port()).request("lock,name:job") == std::optional<std::string>("not-granted"));
  LineClient fresh(a.port());
  CHECK(fresh.request("lock,name:fresh") == std::optional<std::string>("ok"));
  WARN("SIGSTOP of A (TTL " << ttl << " s): B granted after " << granted_after << " s; A ready again "
                            << seconds_since(resumed) << " s after SIGCONT");
}

TEST_CASE("faults: a SIGSTOP shorter than the lease guard's margin loses nothing", "[etcd][faults]") {
  constexpr int ttl = 4;
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("shortstop");
  Replica a(cluster, prefix, ttl), b(cluster, prefix, ttl);
  LineClient holder(a.port());
  REQUIRE(holder.request("lock,name:h") == std::optional<std::string>("ok"));
  LineClient waiter(b.port());
  waiter.send_line("lock,name:h,wait:30");
  REQUIRE(wait_waiters(b, "h", 1));
  a.pause();
  // Well inside valid_until (TTL - margin = 3 s after the last acknowledged keepalive).
  CHECK(waiter.stays_silent(500ms));
  a.resume();
  CHECK(holder.request(".keepalive") == std::optional<std::string>("alive"));
  CHECK(waiter.stays_silent(std::chrono::seconds(ttl) + 1s));  // A's lease was kept alive
  CHECK(a.readyz() == 200);
  holder.close();
  CHECK(waiter.read_line(5s) == std::optional<std::string>("ok"));
}

}  // namespace TNL_UNITY_ID
