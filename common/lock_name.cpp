#include "lock_name.hpp"

#include "protocol.hpp"

namespace tnl {

std::string lock_name_from_command(const std::vector<std::string>& command) {
  std::string joined;
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (i > 0) joined.push_back(' ');
    joined += command[i];
  }
  for (char& c : joined) {
    if (c == ' ' || c == '.' || c == '/') c = '_';
  }
  const auto first = joined.find_first_not_of('_');
  const auto last = joined.find_last_not_of('_');
  const std::string trimmed = first == std::string::npos ? std::string{} : joined.substr(first, last - first + 1);

  std::string name;
  for (char c : trimmed) {
    if (is_valid_lock_name(std::string_view{&c, 1})) name.push_back(c);
  }
  return name;
}

}  // namespace tnl
