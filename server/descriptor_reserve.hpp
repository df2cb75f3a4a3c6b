// Running out of file descriptors without spinning or going silent.
//
// When accept() fails with EMFILE/ENFILE, the pending connection stays in the kernel's
// queue and the listener stays readable: a server that just retries spins, and one that
// pauses leaves clients hanging. Like nginx and libuv, we keep one descriptor in reserve:
// close it, accept the pending connection, tell it why in one line, close it, and take
// the reserve back.
#pragma once

#include <string_view>

namespace tnl {

class DescriptorReserve {
 public:
  /// Raises the soft open-file limit to the hard limit and logs both; then reserves.
  DescriptorReserve();
  ~DescriptorReserve();
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  enum class Refusal {
    refused,          ///< a pending connection got `line` and was closed
    nothing_pending,  ///< accept() failed before looking at the queue: wait until one arrives
    failed,           ///< no reserve to use, or accept failed otherwise
  };

  /// Accepts one pending connection on `listener` with the reserved descriptor, sends it
  /// `line` (plus '\n') without blocking, and closes it.
  Refusal refuse_one(int listener, std::string_view line);
  /// The same, sending `bytes` exactly (e.g. a whole HTTP response).
  Refusal refuse_one_raw(int listener, std::string_view bytes);

 private:
  int reserve_ = -1;
};

}  // namespace tnl
