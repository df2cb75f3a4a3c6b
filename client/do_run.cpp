#include "do_run.hpp"

#include <signal.h>

#include <cstddef>  // before Asio, see lock_client.hpp

#include <asio/io_context.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "child_command.hpp"
#include "do_acquire.hpp"
#include "do_command.hpp"
#include "do_release.hpp"
#include "do_signals.hpp"
#include "lock_client.hpp"
#include "lock_watch.hpp"

namespace tnl::cli {

DoRunResult run_do(const DoOptions& options, const CommandLineArea& command_line) {
  // What whoever started us ignores stays ignored in the command (see ChildOptions).
  std::vector<int> inherited_ignored = signals_the_command_ignores();
  asio::io_context io;
  SignalRouter signals(io, not_ignored({SIGINT, SIGTERM, SIGHUP}));
  tnl::LockClient client(io);

  // --- 1. Take the lock.
  const auto acquired = acquire_lock(io, client, options, signals);
  if (const auto* code = std::get_if<int>(&acquired)) return {*code, false};
  const tnl::LockResult& result = std::get<tnl::LockResult>(acquired);

  // --- 2. Run the command under the guardian, while 3. watching the lock.
  tnl::GuardianOptions guardian =
      guardian_options(options, client.native_handle(), command_line, std::move(inherited_ignored));
  export_lock_environment(options.lock_name, result.token);
  LockWatch watch(client, options);
  const auto ended = run_command(io, client, watch, options, std::move(guardian), signals);
  if (const auto* code = std::get_if<int>(&ended)) return {*code, false};
  const CommandEnded& command = std::get<CommandEnded>(ended);

  // --- 4. Release, only now that every process the command started has ended.
  std::optional<std::string> lost = command.lost;
  if (!lost) lost = release_lock(client, options.lock_name);
  client.close();
  const int code = exit_code_after(command.status, lost);
  // Lost while a command that succeeded ran: ours (122), not the command's 0.
  return {code, !(lost && command.status == 0)};
}

}  // namespace tnl::cli
