// Environment variables set (or unset) for one scope, for tests of options read from the environment.
#pragma once

#include <stdlib.h>

#include <map>
#include <optional>
#include <string>

namespace tnl::test {

/// Name -> value; nullopt unsets the variable.
using Env = std::map<std::string, std::optional<std::string>>;

/// Sets `values` on construction and restores what was there before on destruction.
class ScopedEnv {
 public:
  explicit ScopedEnv(const Env& values) {
    for (const auto& [name, value] : values) {
      const char* old = ::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      set(name, value);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) set(name, value);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }

  Env saved_;
};

}  // namespace tnl::test
