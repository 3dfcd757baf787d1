// aegis: the AegisAPI rate-limiting HTTP service.
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
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

// Each connection is a descriptor: make sure MAX_CONNECTIONS can be reached
// (the soft limit is often 1024) by raising the soft limit up to the hard one.
void raise_fd_limit(std::size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < wanted) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, wanted);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < wanted) {
    spdlog::warn("open-file limit is {}: fewer than MAX_CONNECTIONS={} connections fit (raise "
                 "`ulimit -n`)",
                 lim.rlim_cur, wanted - 256);
  }
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
    raise_fd_limit(config.max_connections + 256);  // + Redis, logs, the listener
    aegis::App app(config);
    app.handle_signals();
    // Logged before accepting: the socket already listens, and whoever waits
    // for the port (an orchestrator, a test) should find this line written.
    spdlog::info("{}", app.describe());
    app.start();
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
