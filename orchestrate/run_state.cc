#include "orchestrate/run_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "common/fsutil.h"

namespace mr::orchestrate {

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kQueued: return "queued";
    case Phase::kSalvaged: return "salvaged";
    case Phase::kReconciled: return "reconciled";
    case Phase::kVerified: return "verified";
    case Phase::kAnnounced: return "announced";
  }
  return "unknown";
}

namespace {

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

Error SqlError(sqlite3* db, const std::string& what) {
  return Error{Code::kIoError, "state database: " + what + ": " + sqlite3_errmsg(db)};
}

}  // namespace

Result<std::unique_ptr<RunState>> RunState::Open(const std::string& workdir) {
  if (auto st = MakeDirs(workdir); !st) return Error{Code::kInvalidArgument, "--workdir " + st.message()};
  std::unique_ptr<RunState> rs(new RunState());
  std::string lock_path = workdir + "/lock";
  rs->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (rs->lock_fd_ < 0) return ErrnoError("--workdir " + lock_path, errno);
  if (::flock(rs->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(rs->lock_fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Error{Code::kInvalidArgument,
                 "--workdir " + workdir + ": another mailrescue (pid " + pid + ") is using it"};
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(rs->lock_fd_, 0) == 0) (void)!::pwrite(rs->lock_fd_, pid.data(), pid.size(), 0);

  std::string db_path = workdir + "/state.sqlite";
  if (sqlite3_open_v2(db_path.c_str(), &rs->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return SqlError(rs->db_, "open " + db_path);
  sqlite3_busy_timeout(rs->db_, 5000);
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=FULL",
           "CREATE TABLE IF NOT EXISTS users(user TEXT PRIMARY KEY, target TEXT NOT NULL, phase INTEGER NOT NULL,"
           " status TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', updated INTEGER NOT NULL)",
           "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
       }) {
    if (auto st = rs->Exec(sql); !st) return st.error();
  }
  return rs;
}

RunState::~RunState() {
  if (db_) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status RunState::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Error{Code::kIoError, "state database: " + msg};
  }
  return Status::Ok();
}

Status RunState::Enqueue(const std::string& user, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO users(user,target,phase,updated) VALUES(?,?,0,?)", -1, &st.s,
                         nullptr) != SQLITE_OK)
    return SqlError(db_, "enqueue");
  sqlite3_bind_text(st.s, 1, user.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 2, target.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 3, static_cast<sqlite3_int64>(std::time(nullptr)));
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "enqueue " + user);
  return Status::Ok();
}

Status RunState::SetPhase(const std::string& user, Phase phase, const std::string& status,
                          const std::string& detail) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_,
                         "UPDATE users SET phase=?, status=CASE WHEN ?='' THEN status ELSE ? END,"
                         " detail=CASE WHEN ?='' THEN detail ELSE ? END, updated=? WHERE user=?",
                         -1, &st.s, nullptr) != SQLITE_OK)
    return SqlError(db_, "set phase");
  sqlite3_bind_int(st.s, 1, static_cast<int>(phase));
  sqlite3_bind_text(st.s, 2, status.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 3, status.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 4, detail.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 5, detail.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 6, static_cast<sqlite3_int64>(std::time(nullptr)));
  sqlite3_bind_text(st.s, 7, user.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "set phase of " + user);
  if (sqlite3_changes(db_) != 1) return Error{Code::kNotFound, "state database: unknown user " + user};
  return Status::Ok();
}

static UserState RowToState(sqlite3_stmt* s) {
  UserState u;
  u.user = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  u.target = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  u.phase = static_cast<Phase>(sqlite3_column_int(s, 2));
  u.status = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
  u.detail = reinterpret_cast<const char*>(sqlite3_column_text(s, 4));
  u.updated = sqlite3_column_int64(s, 5);
  return u;
}

std::optional<UserState> RunState::Get(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT user,target,phase,status,detail,updated FROM users WHERE user=?", -1, &st.s,
                         nullptr) != SQLITE_OK)
    return std::nullopt;
  sqlite3_bind_text(st.s, 1, user.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) return std::nullopt;
  return RowToState(st.s);
}

std::vector<UserState> RunState::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<UserState> out;
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT user,target,phase,status,detail,updated FROM users ORDER BY user", -1, &st.s,
                         nullptr) != SQLITE_OK)
    return out;
  while (sqlite3_step(st.s) == SQLITE_ROW) out.push_back(RowToState(st.s));
  return out;
}

Status RunState::PutMeta(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)", -1, &st.s, nullptr) != SQLITE_OK)
    return SqlError(db_, "meta");
  sqlite3_bind_text(st.s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 2, value.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "meta " + key);
  return Status::Ok();
}

std::optional<std::string> RunState::GetMeta(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key=?", -1, &st.s, nullptr) != SQLITE_OK)
    return std::nullopt;
  sqlite3_bind_text(st.s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)));
}

}  // namespace mr::orchestrate
