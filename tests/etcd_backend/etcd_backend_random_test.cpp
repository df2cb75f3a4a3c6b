// A randomized run over two replicas of one etcd (fixed seeds, bounded steps): mutex and
// semaphore requests, waits with and without deadlines, requests without wait, bursts that
// go as one batch (the puts-alone branch and the long one), releases, cancels of waiters in
// the middle of a queue, and etcdctl-style foreign keys put and deleted under mutex names.
// It checks the one promise (never more holders of a name than its limit, across both
// replicas, counting a holder from its grant until it asks to release or is told lost) and
// liveness: a name with fewer holders than its limit, no foreign key and a request pending
// is never left so for long (a missed wakeup), and once everything is released every
// waiter without a deadline is granted.
#include <fmt/format.h>

#include <map>
#include <random>
#include <set>

#include "etcd_backend_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

namespace {

/// Orders lock ids for the maps below.
struct IdLess {
  bool operator()(const LockId& a, const LockId& b) const {
    return a.high != b.high ? a.high < b.high : a.low < b.low;
  }
};

/// The test's view of one name.
struct NameModel {
  std::size_t limit = 1;
  std::set<LockId, IdLess> holders;                 ///< granted, not yet released nor lost
  std::set<std::string> foreign;            ///< foreign keys put (from when the put is sent)
  std::optional<Clock::time_point> stuck_since;  ///< free, not blocked, and a request pending
};

/// One request of the run.
struct Pending {
  std::string name;
  int replica = 0;
  bool wait = false;
  bool forever = false;
};

/// Tells the model a hold is lost.
struct ModelWatcher : tnl::HoldWatcher {
  std::function<void(const LockId&)> on_lost;
  void lost(const LockId& id, std::string_view) override { on_lost(id); }
};

class RandomRun {
 public:
  explicit RandomRun(unsigned seed) : random_(seed) {
    names_["m0"].limit = 1;
    names_["m1"].limit = 1;
    names_["s0"].limit = 2;
    names_["s1"].limit = 3;
    tnl::etcd::ClientOptions options;
    options.endpoints = {cluster_.etcd.address(0)};
    raw_ = std::make_unique<tnl::etcd::Client>(cluster_.io, options);
    watcher_ = std::make_shared<ModelWatcher>();
    watcher_->on_lost = [this](const LockId& id) {
      ++lost_;
      for (auto& [name, model] : names_) model.holders.erase(id);
      held_.erase(id);
    };
  }
  ~RandomRun() { raw_.reset(); }

  void run(int steps) {
    for (int step = 0; step < steps; ++step) {
      act();
      cluster_.run_for(std::chrono::milliseconds(pick(0, 40)));
      check_stuck();
    }
    drain();
  }

  int grants = 0;
  int timeouts = 0;
  int lost_ = 0;

 private:
  EtcdLockBackend& replica(int i) { return i == 0 ? cluster_.a() : cluster_.b(); }
  int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
  template <class Map>
  auto any_of(Map& map) {
    auto it = map.begin();
    std::advance(it, pick(0, static_cast<int>(map.size()) - 1));
    return it;
  }
  const std::string& any_name() { return any_of(names_)->first; }

  void act() {
    const int what = pick(0, 99);
    if (what < 35) {
      const bool forever = pick(0, 9) < 4;
      lock(pick(0, 1), any_name(), forever ? std::optional(0ms) : std::optional(std::chrono::milliseconds(pick(20, 800))));
    } else if (what < 45) {
      lock(pick(0, 1), any_name(), std::nullopt);
    } else if (what < 55) {
      // A burst on one replica: one batch of requests on different names.
      const int r = pick(0, 1);
      for (const auto& [name, model] : names_) {
        if (pick(0, 1) == 0) lock(r, name, pick(0, 1) == 0 ? std::optional(0ms) : std::nullopt);
      }
    } else if (what < 80) {
      if (!held_.empty()) release(any_of(held_)->first);
    } else if (what < 88) {
      std::vector<LockId> waiting;
      for (const auto& [id, pending] : pending_) {
        if (pending.wait) waiting.push_back(id);
      }
      if (!waiting.empty()) {
        const LockId id = waiting[static_cast<std::size_t>(pick(0, static_cast<int>(waiting.size()) - 1))];
        const int r = pending_.at(id).replica;
        if (replica(r).cancel(id)) forget(id);
      }
    } else {
      const std::string name = pick(0, 1) == 0 ? "m0" : "m1";
      NameModel& model = names_.at(name);
      if (model.foreign.empty()) {
        put_foreign(name);
      } else {
        delete_foreign(name, *model.foreign.begin());
      }
    }
  }

  void lock(int r, const std::string& name, std::optional<std::chrono::milliseconds> wait) {
    if (pending_.size() >= 40) return;
    AcquireRequest request;
    request.name = name;
    request.limit = names_.at(name).limit;
    request.client_id = "random";
    request.peer = "127.0.0.1:1";
    if (wait) request.deadline = *wait == 0ms ? Clock::time_point::max() : Clock::now() + *wait;
    auto answered = std::make_shared<int>(0);
    auto id_box = std::make_shared<std::optional<LockId>>();
    const LockId id = replica(r).acquire(
        request,
        [this, answered, id_box, name, r](const AcquireResult& result) {
          ++*answered;
          REQUIRE(*answered == 1);
          on_answer(result, name, r);
        },
        watcher_);
    if (*answered == 0) pending_[id] = Pending{name, r, wait.has_value(), wait && *wait == 0ms};
  }

  void on_answer(const AcquireResult& result, const std::string& name, int r) {
    const auto pending = pending_.find(result.id);
    const bool forever = pending != pending_.end() && pending->second.forever;
    if (pending != pending_.end()) pending_.erase(pending);
    NameModel& model = names_.at(name);
    switch (result.outcome) {
      case AcquireOutcome::granted: {
        ++grants;
        INFO("name " << name << " limit " << model.limit << " holders " << model.holders.size());
        REQUIRE(model.holders.size() < model.limit);  // the one promise
        model.holders.insert(result.id);
        held_[result.id] = r;
        break;
      }
      case AcquireOutcome::timed_out:
        ++timeouts;
        CHECK_FALSE(forever);
        break;
      case AcquireOutcome::not_granted:
        break;
      default:
        FAIL("unexpected outcome " << static_cast<int>(result.outcome) << " on " << name);
    }
  }

  void release(LockId id) {  // a copy: the map entry it may name goes first
    const int r = held_.at(id);
    held_.erase(id);
    for (auto& [name, model] : names_) model.holders.erase(id);  // it stops believing now
    replica(r).release(id, ReleaseBy::holder, "random", [](tnl::ReleaseOutcome) {});
  }

  void forget(LockId id) { pending_.erase(id); }

  void put_foreign(const std::string& name) {
    const std::string key = fmt::format("/test/{}/{:x}", name, 0x694d000000000000ULL + ++foreign_made_);
    names_.at(name).foreign.insert(key);
    etcdserverpb::TxnRequest txn;
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value("");
    raw_->txn(std::move(txn), [](const grpc::Status& status, etcdserverpb::TxnResponse&) { REQUIRE(status.ok()); });
  }

  void delete_foreign(const std::string& name, std::string key) {
    etcdserverpb::TxnRequest txn;
    txn.add_success()->mutable_request_delete_range()->set_key(key);
    raw_->txn(std::move(txn), [this, name, key](const grpc::Status& status, etcdserverpb::TxnResponse&) {
      REQUIRE(status.ok());
      names_.at(name).foreign.erase(key);
    });
  }

  /// A name left free while a request on it is pending: a missed wakeup.
  void check_stuck() {
    const auto now = Clock::now();
    for (auto& [name, model] : names_) {
      const bool pending = std::any_of(pending_.begin(), pending_.end(),
                                       [&, n = name](const auto& p) { return p.second.name == n; });
      if (!pending || model.holders.size() >= model.limit || !model.foreign.empty()) {
        model.stuck_since.reset();
        continue;
      }
      if (!model.stuck_since) model.stuck_since = now;
      INFO("name " << name << " free with a request pending for "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(now - *model.stuck_since).count()
                   << " ms");
      REQUIRE(now - *model.stuck_since < 2s);
    }
  }

  /// Everything released and deleted: every request left is answered, the forever ones granted.
  void drain() {
    for (auto& [name, model] : names_) {
      for (const auto& key : std::set<std::string>(model.foreign)) delete_foreign(name, key);
    }
    const auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline && !(pending_.empty() && held_.empty())) {
      while (!held_.empty()) release(held_.begin()->first);
      cluster_.run_for(20ms);
      check_stuck();
    }
    INFO(pending_.size() << " request(s) never answered");
    REQUIRE(pending_.empty());
    REQUIRE(held_.empty());
    // Nothing left behind in etcd (index keys included).
    const bool empty = run_until(cluster_.io, [&] { return cluster_.etcd.keys("/test/").empty(); }, 10s);
    for (const auto& key : cluster_.etcd.keys("/test/")) UNSCOPED_INFO("left in etcd: " << key);
    REQUIRE(empty);
  }

  Cluster cluster_;
  std::mt19937 random_;
  std::unique_ptr<tnl::etcd::Client> raw_;
  std::shared_ptr<ModelWatcher> watcher_;
  std::map<std::string, NameModel> names_;
  std::map<LockId, Pending, IdLess> pending_;
  std::map<LockId, int, IdLess> held_;  ///< hold -> its replica
  std::uint64_t foreign_made_ = 0;
};

}  // namespace

TEST_CASE("etcd backend random: mutexes, semaphores, waits, timeouts, cancels and foreign keys over two replicas",
          "[etcd][random]") {
  const unsigned seed = GENERATE(1u, 2u, 3u);
  INFO("seed " << seed);
  RandomRun run(seed);
  run.run(250);
  CHECK(run.grants > 20);
  CHECK(run.timeouts > 0);
}

}  // namespace TNL_UNITY_ID
