// aegis: the AegisAPI rate-limiting HTTP service.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string_view>

#include "aegis/app.hpp"
#include "aegis/config.hpp"
#include "aegis/logging.hpp"
#include "aegis/version.hpp"

namespace {

// Reads ./.env if there is one; a missing file is not an error.
std::map<std::string, std::string, std::less<>> read_dotenv() {
  std::ifstream in(".env");
  if (!in) {
    return {};
  }
  std::stringstream text;
  text << in.rdbuf();
  return aegis::parse_dotenv(text.str());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(aegis::help_text().c_str(), stdout);
      return 0;
    }
    if (arg == "--version") {
      std::puts("aegis " AEGIS_VERSION);
      return 0;
    }
    std::fprintf(stderr, "aegis: unknown argument '%s' (try --help)\n", argv[i]);
    return 2;
  }

  try {
    const aegis::Config config = aegis::load_config(aegis::environment_with(read_dotenv()));
    aegis::configure_logging(config.log_level, config.log_format);
    aegis::App app(config);
    app.handle_signals();
    app.start();
    spdlog::info("{}", app.describe());
    app.wait();
    spdlog::info("stopped");
    return 0;
  } catch (const aegis::ConfigError& e) {
    std::fprintf(stderr, "aegis: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
