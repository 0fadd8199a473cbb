#include "orchestrate/announce.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/fsutil.h"

extern char** environ;

namespace mr::orchestrate {

EventLog::~EventLog() {
  if (f_ && own_) std::fclose(f_);
}

Status EventLog::Open(const std::string& path) {
  if (path == "-") {
    f_ = stdout;
    own_ = false;
    return Status::Ok();
  }
  f_ = std::fopen(path.c_str(), "ae");
  if (!f_) return ErrnoError("--events " + path, errno);
  own_ = true;
  return Status::Ok();
}

void EventLog::Emit(const std::string& event, nlohmann::json fields) {
  if (!f_) return;
  fields["event"] = event;
  fields["time"] = static_cast<std::int64_t>(std::time(nullptr));
  std::string line = fields.dump() + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

HookResult RunUserHook(const std::string& cmd, const std::string& user, const std::string& target,
                       const std::string& status) {
  HookResult r;
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "MAILRESCUE_USER=", 16) == 0 || std::strncmp(*e, "MAILRESCUE_TARGET=", 18) == 0 ||
        std::strncmp(*e, "MAILRESCUE_STATUS=", 18) == 0)
      continue;
    env.emplace_back(*e);
  }
  env.push_back("MAILRESCUE_USER=" + user);
  env.push_back("MAILRESCUE_TARGET=" + target);
  env.push_back("MAILRESCUE_STATUS=" + status);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", c = cmd;
  char* argv[] = {sh.data(), dash_c.data(), c.data(), nullptr};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.exit_code = -1;
    r.error = std::string("--on-user-done: cannot start /bin/sh: ") + std::strerror(rc);
    return r;
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) {
      r.exit_code = -1;
      r.error = std::string("--on-user-done: wait failed: ") + std::strerror(errno);
      return r;
    }
  }
  if (WIFEXITED(wstatus)) {
    r.exit_code = WEXITSTATUS(wstatus);
    if (r.exit_code != 0) r.error = "--on-user-done for " + user + " exited with " + std::to_string(r.exit_code);
  } else {
    r.exit_code = -1;
    r.error = "--on-user-done for " + user + " was killed by signal " + std::to_string(WTERMSIG(wstatus));
  }
  return r;
}

Status WriteProxyMap(const std::string& path, const std::map<std::string, std::string>& user_to_target) {
  std::string text;
  for (const auto& [u, t] : user_to_target) text += u + "\t" + t + "\n";
  return WriteFileAtomic(path, std::string_view(text));
}

}  // namespace mr::orchestrate
