// Helpers for the flag definitions (see flag_definitions.hpp).
#include "webhook/flag_definitions.hpp"

#include <cctype>

#include "webhook/cli_input.hpp"

namespace exportgate::cli {

std::string env_name(const std::string& long_flag) {
  std::string name = "EXPORTGATE_";
  for (char c : long_flag.substr(long_flag.find_first_not_of('-'))) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

void configure_command(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description) {
  CLI::App* app = parent.add_subcommand(name, description);
  configure_command(*app);
  // CLI11 2.1 reads the variables of every subcommand, chosen or not, unless it has a
  // parse-complete callback: then only the chosen one's, when its part has parsed. The
  // definitions replace this no-op with the command's action.
  app->parse_complete_callback([] {});
  return app;
}

void add_notes(CLI::App& app, const std::string& notes) {
  const std::string rule = app.get_footer();  // inherited from the root
  app.footer(notes + (rule.empty() ? "" : "\n\n" + rule));
}

CLI::Option* add_in_force_on(CLI::App& app, std::string& target) {
  return add_flag_option(app, "--in-force-on", target,
                         "select the rules in force on DATE (YYYY-MM-DD or today)")
      ->type_name("DATE");
}

std::optional<std::string> in_force_on_value(const CLI::Option& flag, const std::string& value) {
  if (flag.count() == 0) return std::nullopt;
  if (auto problem = in_force_flag_problem(value); !problem.empty()) {
    throw UsageError(problem, "--in-force-on");
  }
  return value;
}

CLI::Option* add_switch(CLI::App& app, const std::string& names, bool& target,
                        const std::string& help) {
  CLI::Option* opt = app.add_flag(names, target, help);
  // `--in-cluster=false` is refused as before; only the variable says true or false, so a value
  // that is neither came from it.
  opt->disable_flag_override();
  const std::string env = env_name(opt->get_name());
  opt->envname(env);
  opt->check(CLI::Validator(
      [env](std::string& v) -> std::string {
        for (const char* ok : {"true", "false", "1", "0", "yes", "no", "on", "off"}) {
          if (v == ok) return {};
        }
        return "expected true or false, got \"" + v + "\" (from $" + env + ")";
      },
      ""));
  return opt;
}

void check_one_of(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (a == value) return;
  }
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + allowed[i];
  }
  throw UsageError(flag + " must be " + list + ", got \"" + value + "\"", flag);
}

std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw UsageError("--namespace-labels: expected key=value, got \"" + item + "\"",
                         "--namespace-labels");
      }
      out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string tenant_namespace_error(const std::string& value) {
  return "--tenant-namespace: expected NAMESPACE=CC with an ISO 3166-1 alpha-2 code, got \"" +
         value + "\"";
}

}  // namespace exportgate::cli
