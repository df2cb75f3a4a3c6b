// The one door between gRPC's threads and the event loop.
//
// gRPC runs its completions (unary callbacks, stream reactions) on its own threads. They
// touch nothing of ours but their own call object and this gate: they queue each result for
// the io_context (one asio::post for all results queued before the loop drains them), and
// each runs on the event loop only while the gate is open. close() (the owner's destructor, on the loop) shuts the gate, cancels every
// call in flight and waits, bounded, until gRPC has let go of all of them: afterwards no
// completion posts anything, and handlers posted before close() do nothing when they run.
// The gate also keeps work on the io_context while calls are in flight, so that a loop
// running until it runs out of work waits for their results.
//
// close() waits until the call objects themselves are destroyed, not only until their last
// completion ran: a grpc::ClientContext holds a reference to its grpc::Channel, and the
// owner drops its channels right after close(). Were a context the last holder, the channel
// would end on one of gRPC's callback threads, which then joins itself and frees the
// completion queue it is still polling (grpc/grpc#32584: an abort in
// grpc_cq_internal_unref, seen here in about one run in thirty).
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace tnl::etcd {

class Gate : public std::enable_shared_from_this<Gate> {
 public:
  /// A call in flight, as the gate sees it: something it can ask gRPC to end.
  class Call {
   public:
    Call() = default;
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    /// Tells the gate it entered that its gRPC objects (the context, hence its channel
    /// reference) are gone. Runs after the derived class's members are destroyed.
    virtual ~Call();
    /// Asks gRPC to end the call soon (TryCancel, and for a stream its hold released).
    /// Called on the loop thread, never under the gate's lock; may run reactions inline.
    virtual void cancel() = 0;

   private:
    friend class Gate;
    std::shared_ptr<Gate> gate_;  ///< set by enter()
  };

  static std::shared_ptr<Gate> make(asio::io_context& io);
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  /// Loop thread, before the call starts: registers it (kept alive until it leaves) and
  /// keeps work on the io_context for it. False once closed (then do not start it).
  bool enter(std::shared_ptr<Call> call);
  /// gRPC thread (or inline): hands `on_loop` to the event loop, where it runs only while
  /// the gate is open. Dropped once closed.
  void post(std::function<void()> on_loop);
  /// gRPC thread, the call's last completion (a unary callback, OnDone): as post, and the
  /// call leaves. Nothing of the call may be touched by gRPC after this.
  void leave(Call* call, std::function<void()> on_loop);

  /// Loop thread: shuts the gate, cancels every call in flight, and waits up to `bound`
  /// until all of them have left and their objects are destroyed. False if some were not
  /// (logged; they can no longer post anything). The owner must not hold call objects
  /// itself when it calls this.
  bool close(std::chrono::milliseconds bound = std::chrono::seconds(5));
  /// Loop thread: true until close().
  [[nodiscard]] bool open() const { return loop_open_; }
  /// Calls that entered and have not left (any thread).
  [[nodiscard]] std::size_t in_flight() const;
  /// Call objects that entered and are not destroyed yet (any thread).
  [[nodiscard]] std::size_t alive() const;

 private:
  explicit Gate(asio::io_context& io);
  /// A result handed over, waiting for the loop.
  struct Queued {
    std::function<void()> on_loop;
    bool leaves = false;  ///< the call's last result: its work on the loop ends with it
  };
  /// Under mutex_, gate open: queues `item`; the first one queued asks the loop for a drain.
  void enqueue(Queued item);
  /// Loop thread: runs every result queued so far, in order, while the gate stays open.
  void drain();
  /// Loop thread: one call's result was handled; drops the work guard after the last.
  void release_work();
  /// Any thread: a call object that entered is destroyed.
  void destroyed();

  asio::io_context& io_;
  mutable std::mutex mutex_;
  std::condition_variable left_;
  bool closed_ = false;                                ///< guarded by mutex_
  std::unordered_map<Call*, std::shared_ptr<Call>> calls_;  ///< guarded by mutex_
  std::size_t alive_ = 0;                              ///< guarded by mutex_
  /// Results not handed to the loop yet (guarded by mutex_): one asio::post for all of them,
  /// however many gRPC completes before the loop gets to them.
  std::vector<Queued> queued_;
  // Loop thread only:
  bool loop_open_ = true;
  std::size_t working_ = 0;  ///< results not handled yet on the loop
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
};

}  // namespace tnl::etcd
