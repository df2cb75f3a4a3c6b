// One help layout for every program: lines under 100 columns, no CLI11 type/range clutter.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace tnl::cli {

/// Widest help line, in columns (lines are shorter than 100).
inline constexpr std::size_t help_width = 99;
/// Where option descriptions start.
inline constexpr std::size_t help_column = 30;

/// CLI11's formatter, with:
/// - descriptions (of options, subcommands, the program, the footer) wrapped at help_width,
///   continuation lines indented to help_column;
/// - an option's value shown as its type name without the validators' suffixes
///   (`UINT:INT in [1 - 65535]` becomes `N`, `TEXT:{kill,warn}` becomes `kill|warn`,
///   `TEXT:DIR` becomes `DIR`), its default and environment variable moved into the
///   description ("(default: 7654; env TCPNETLOCK_PORT)");
/// - no Needs:/Excludes: lists (descriptions say what goes together in words).
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter();
  /// The left column (names and value) and the wrapped description.
  std::string make_option(const CLI::Option* opt, bool is_positional) const override;
  /// The option's names, without a negated flag's `{false}` default.
  std::string make_option_name(const CLI::Option* opt, bool is_positional) const override;
  /// The value's name (and REQUIRED), without validator suffixes.
  std::string make_option_opts(const CLI::Option* opt) const override;
  /// The description, with the default and the environment variable.
  std::string make_option_desc(const CLI::Option* opt) const override;
  /// A subcommand's line, wrapped.
  std::string make_subcommand(const CLI::App* sub) const override;
  /// The program's description, wrapped.
  std::string make_description(const CLI::App* app) const override;
  /// The footer, wrapped.
  std::string make_footer(const CLI::App* app) const override;
};

/// Gives `app` the HelpFormatter; subcommands added afterwards inherit it, so call this
/// before adding them.
void use_help_format(CLI::App& app);

/// `text` wrapped at spaces so that no line is wider than `width`, every line but the first
/// indented by `indent` spaces (and the first assumed to start at `indent`). Newlines in
/// `text` are kept; a word longer than a line is left whole.
[[nodiscard]] std::string wrap(std::string_view text, std::size_t indent, std::size_t width = help_width);

/// A CLI11 type name without validator suffixes: "UINT:INT in [1 - 65535]" -> "N",
/// "TEXT:{kill,warn}" -> "kill|warn", "TEXT:DIR" -> "DIR", "FLOAT:SECONDS in [..]" -> "NUMBER".
[[nodiscard]] std::string plain_type_name(const std::string& type_name);

}  // namespace tnl::cli
