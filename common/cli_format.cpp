#include "cli_format.hpp"

#include <algorithm>
#include <memory>
#include <sstream>
#include <vector>

namespace tnl::cli {

namespace {

/// Splits `text` at `separator`.
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

bool all_upper(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

/// CLI11's generic names, as the help shows them.
std::string friendly(const std::string& base) {
  if (base == "UINT" || base == "INT") return "N";
  if (base == "FLOAT") return "NUMBER";
  return base;
}

}  // namespace

HelpFormatter::HelpFormatter() { column_width(help_column); }

std::string wrap(std::string_view text, std::size_t indent, std::size_t width) {
  const std::size_t room = width > indent + 20 ? width - indent : 20;
  std::string out;
  std::size_t start = 0;
  bool first_line = true;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    // Fill output lines from this input line, breaking at the last space that fits.
    do {
      if (!first_line) out += '\n' + std::string(indent, ' ');
      first_line = false;
      std::size_t cut = line.size();
      if (line.size() > room) {
        const std::size_t space = line.rfind(' ', room);
        cut = space == std::string_view::npos || space == 0 ? line.find(' ', room) : space;
        if (cut == std::string_view::npos) cut = line.size();
      }
      out += line.substr(0, cut);
      line.remove_prefix(cut);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    } while (!line.empty());
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

std::string plain_type_name(const std::string& type_name) {
  const auto parts = split(type_name, ':');
  if (parts.empty()) return type_name;
  std::string name = friendly(parts.front());
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (all_upper(part) && part != "NONNEGATIVE" && part != "POSITIVE") {
      name = part;  // DIR, FILE: more telling than TEXT
    } else if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
      name = part.substr(1, part.size() - 2);
      std::replace(name.begin(), name.end(), ',', '|');
    }  // else a range ("INT in [1 - 65535]") or a check's name: clutter
  }
  return name;
}

std::string HelpFormatter::make_option(const CLI::Option* opt, bool is_positional) const {
  std::string left = "  " + make_option_name(opt, is_positional) + make_option_opts(opt);
  const std::string desc = make_option_desc(opt);
  if (desc.empty()) return left + '\n';
  if (left.size() >= help_column) {
    left += '\n' + std::string(help_column, ' ');
  } else {
    left.resize(help_column, ' ');
  }
  return left + wrap(desc, help_column) + '\n';
}

std::string HelpFormatter::make_option_name(const CLI::Option* opt, bool is_positional) const {
  std::string name = CLI::Formatter::make_option_name(opt, is_positional);
  // "--keep-alive,--no-keep-alive{false}": the {default} of a negated name is noise.
  for (std::size_t open = name.find('{'); open != std::string::npos; open = name.find('{')) {
    const std::size_t close = name.find('}', open);
    if (close == std::string::npos) break;
    name.erase(open, close - open + 1);
  }
  return name;
}

std::string HelpFormatter::make_option_opts(const CLI::Option* opt) const {
  if (!opt->get_option_text().empty()) return " " + opt->get_option_text();
  std::string out;
  if (opt->get_type_size() != 0) {
    const std::string type = plain_type_name(opt->get_type_name());
    if (!type.empty()) out += " " + get_label(type);
    if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
    if (opt->get_required() && !opt->get_positional()) out += " " + get_label("REQUIRED");
  }
  return out;
}

std::string HelpFormatter::make_option_desc(const CLI::Option* opt) const {
  std::string desc = opt->get_description();
  std::vector<std::string> notes;
  if (opt->get_type_size() != 0 && !opt->get_default_str().empty()) notes.push_back("default: " + opt->get_default_str());
  if (!opt->get_envname().empty()) notes.push_back("env " + opt->get_envname());
  if (!notes.empty()) {
    desc += desc.empty() ? "(" : " (";
    for (std::size_t i = 0; i < notes.size(); ++i) desc += (i ? "; " : "") + notes[i];
    desc += ")";
  }
  return desc;
}

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::string left = "  " + sub->get_display_name(true);
  if (left.size() >= help_column) {
    left += '\n' + std::string(help_column, ' ');
  } else {
    left.resize(help_column, ' ');
  }
  return left + wrap(sub->get_description(), help_column) + '\n';
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
  const std::string desc = CLI::Formatter::make_description(app);
  return desc.empty() ? desc : wrap(desc, 0);
}

std::string HelpFormatter::make_footer(const CLI::App* app) const {
  const std::string footer = CLI::Formatter::make_footer(app);
  return footer.empty() ? footer : wrap(footer, 0);
}

void use_help_format(CLI::App& app) { app.formatter(std::make_shared<HelpFormatter>()); }

}  // namespace tnl::cli
