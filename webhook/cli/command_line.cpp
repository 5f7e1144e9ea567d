// The command line of every subcommand (see command_line.hpp).
#include "webhook/command_line.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>

#include "webhook/commands.hpp"
#include "webhook/flag_definitions.hpp"

namespace exportgate::cli {

namespace {

constexpr const char* kDescription =
    "exportgate — admission control for export-controlled AI compute";

constexpr const char* kEnvironmentRule =
    "Every flag --foo-bar can also be set by the environment variable EXPORTGATE_FOO_BAR (shown\n"
    "with each flag); the command line wins, and an empty variable counts as unset. A flag name\n"
    "that two commands share means the same in both, except --namespace (check, audit) and\n"
    "audit's --request-timeout, whose variables name the command (shown with each flag).";

constexpr size_t kWidth = 100;  // help lines are wrapped to this
constexpr size_t kColumn = 32;  // where the descriptions start

// Word-wraps `text` to `width` columns, keeping its own line breaks.
std::string wrap(const std::string& text, size_t width) {
  std::string out;
  size_t line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == '\n') {
      out += '\n';
      line = 0;
      ++pos;
      continue;
    }
    const size_t end = text.find_first_of(" \n", pos);
    const std::string word = text.substr(pos, end == std::string::npos ? end : end - pos);
    if (line > 0 && line + 1 + word.size() > width) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
    pos = end == std::string::npos ? text.size() : end;
    if (pos < text.size() && text[pos] == ' ') ++pos;
  }
  return out;
}

// CLI11's layout, with the default and the environment variable after the description rather
// than in the flag column, and long descriptions wrapped.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { column_width(kColumn); }

  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_size() == 0) return {};
    std::string out = " " + opt->get_type_name();
    if (opt->get_items_expected_max() >= CLI::detail::expected_max_vector_size) out += " ...";
    return out;
  }

  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string desc = opt->get_description();
    if (!opt->get_default_str().empty()) desc += " (default " + opt->get_default_str() + ")";
    if (!opt->get_envname().empty()) desc += " [$" + opt->get_envname() + "]";
    return wrap(desc, kWidth - kColumn);
  }

  std::string make_footer(const CLI::App* app) const override {
    const std::string footer = app->get_footer();
    return footer.empty() ? std::string() : "\n" + wrap(footer, kWidth) + "\n";
  }
};

// The subcommands chosen, outermost first (empty: none).
std::vector<CLI::App*> chosen_path(CLI::App& root) {
  std::vector<CLI::App*> path;
  CLI::App* app = &root;
  while (true) {
    auto subs = app->get_subcommands();
    if (subs.empty()) break;
    app = subs.front();
    path.push_back(app);
  }
  return path;
}

// Whether `opt` was on the command line (else its value came from its variable).
bool given_on_command_line(const CLI::Option& opt, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--") break;
    if (a.starts_with("--")) {
      if (opt.check_lname(a.substr(2, a.find('=') - 2))) return true;
    } else if (a.size() > 1 && a[0] == '-' && opt.check_sname(a.substr(1, 1))) {
      return true;
    }
  }
  return false;
}

// "--x=" means an empty value, as it did before CLI11 (which reads it as a missing one):
// `--metrics-listen=` disables the metrics listener.
std::vector<std::string> empty_values_spelled_out(std::vector<std::string> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i].size() > 3 && args[i].starts_with("--") && args[i].back() == '=' &&
        args[i].find('=') == args[i].size() - 1) {
      args[i].pop_back();
      args.insert(args.begin() + static_cast<long>(i) + 1, std::string());
      ++i;
    }
  }
  // `exportgate help`, `exportgate policy help`: the help of that level, as before.
  if (!args.empty() && args[0] == "help") args[0] = "--help";
  if (args.size() > 1 && (args[0] == "policy" || args[0] == "log") && args[1] == "help") {
    args[1] = "--help";
  }
  return args;
}

// The first argument `app` did not take, as a usage error ("" when none).
std::string leftover(CLI::App& app) {
  const auto extra = app.remaining(false);
  if (extra.empty()) return {};
  const std::string& a = extra.front();
  if (a.size() > 1 && a[0] == '-') return "unknown flag \"" + a + "\"";
  return "unexpected argument \"" + a + "\"";
}

std::string subcommand_names(const CLI::App& app) {
  std::string out;
  const auto subs = app.get_subcommands({});
  for (size_t i = 0; i < subs.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == subs.size() ? " or " : ", ") + subs[i]->get_name();
  }
  return out;
}

// The root command with every subcommand defined on it; `action` is set by the one parsed.
void define_commands(CLI::App& app, Action& action, bool& version) {
  app.formatter(std::make_shared<HelpFormatter>());
  app.footer(kEnvironmentRule);
  // Subcommands inherit this: arguments no definition takes are reported below, with the
  // command's name.
  app.allow_extras();
  // One command per level, so a later word ("check -f x version") is an argument of the
  // command, not a second command.
  app.require_subcommand(0, 1);
  app.add_flag("--version", version, "the same as `exportgate version`");
  add_serve(app, action);
  add_check(app, action);
  add_policy(app, action);
  add_audit(app, action);
  add_log(app, action);
  add_catalog(app, action);
  add_version(app, action);
}

// The commands below `app` that take flags, depth first.
void collect_flags(const CLI::App& app, std::vector<std::string> words,
                   std::vector<CommandFlags>& out) {
  if (app.get_parent() != nullptr) words.push_back(app.get_name());
  const auto subs = app.get_subcommands({});
  if (!words.empty() && subs.empty()) {
    CommandFlags entry{words, {}};
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->get_lnames().empty() || opt == app.get_help_ptr()) continue;
      entry.flags.emplace_back("--" + opt->get_lnames().front(), opt->get_envname());
    }
    out.push_back(std::move(entry));
  }
  for (const CLI::App* sub : subs) collect_flags(*sub, words, out);
}

}  // namespace

std::vector<CommandFlags> command_flags() {
  CLI::App app(kDescription, "exportgate");
  Action action;
  bool version = false;
  define_commands(app, action, version);
  std::vector<CommandFlags> out;
  collect_flags(app, {}, out);
  return out;
}

int run_command_line(int argc, char** argv) {
  CLI::App app(kDescription, "exportgate");
  Action action;
  bool version = false;
  define_commands(app, action, version);

  const std::vector<std::string> args = empty_values_spelled_out({argv + 1, argv + argc});
  // "exportgate policy diff": the command as far as it parsed, for messages.
  auto command = [&app] {
    std::string name = "exportgate";
    for (auto* p : chosen_path(app)) name += " " + p->get_name();
    return name;
  };
  auto usage_error = [&](const std::string& message) {
    std::cerr << command() << ": " << message << "\nRun `" << command()
              << " --help` for the flags and their environment variables.\n";
    return 2;
  };
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
    app.parse(reversed);
    const std::vector<CLI::App*> path = chosen_path(app);
    if (path.empty()) {
      if (version) return run_version();
      if (!app.remaining(false).empty()) {
        return usage_error("unknown command \"" + app.remaining(false).front() + "\"");
      }
      std::cerr << app.help();
      return 2;
    }
    for (auto* p : path) {
      if (auto problem = leftover(*p); !problem.empty()) return usage_error(problem);
    }
    if (!path.back()->get_subcommands({}).empty()) {
      return usage_error("expected a subcommand: " + subcommand_names(*path.back()));
    }
    return action();
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // CLI11 says "in-cluster was given a disallowed flag override".
    if (auto at = message.find(" was given a disallowed flag override"); at != std::string::npos) {
      message = "--" + message.substr(0, at) + " takes no value";
    }
    return usage_error(message);
  } catch (const UsageError& e) {
    std::string message = e.what();
    const auto path = chosen_path(app);
    if (!e.flag().empty() && !path.empty()) {
      const CLI::Option* opt = path.back()->get_option_no_throw(e.flag());
      const char* env = opt ? std::getenv(opt->get_envname().c_str()) : nullptr;
      if (env && *env && !given_on_command_line(*opt, args)) {
        message += " (from $" + opt->get_envname() + ")";
      }
    }
    return usage_error(message);
  } catch (const std::exception& e) {
    // Subcommands report their own errors; this is the last line against a crash.
    std::cerr << command() << ": " << e.what() << "\n";
    return 2;
  }
}

}  // namespace exportgate::cli
