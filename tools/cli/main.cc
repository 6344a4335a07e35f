// gridrpc-cli: calls gridrpc members from the command line. `gridrpc-cli --help` for usage;
// the commands live in the gridrpc_cli library (cli.h).
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli.h"

int main(int argc, char** argv) {
  // SIGINT and SIGTERM are taken by a thread of ours (blocked before gRPC starts threads of its
  // own): a watch ends cleanly, anything else exits at once.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Never destroyed: the signal thread may use it until the process is gone.
  static auto* interrupter = new gridrpc::cli::Interrupter();
  std::thread([signals] {
    int received = 0;
    while (sigwait(&signals, &received) == 0) {
      if (!interrupter->Interrupt()) _exit(gridrpc::cli::kExitInterrupted);
    }
  }).detach();

  gridrpc::cli::Io io{std::cin, std::cout, std::cerr, *interrupter};
  return gridrpc::cli::Run(std::vector<std::string>(argv + 1, argv + argc), io);
}
