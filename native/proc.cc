// A snapshot of every process on the host, read from /proc in one native call: the lesson
// screens refresh it several times a second with hundreds of processes, where doing thousands of
// small reads from JavaScript would cost a good share of a core.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common.h"

namespace sbx {
namespace {

static ssize_t ReadAt(int dirfd, const char *name, char *buf, size_t cap) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < cap) {
    ssize_t n = read(fd, buf + got, cap - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = 0;
  return (ssize_t)got;
}

// The value after "Key:\t" on its line, or nullptr.
static const char *Field(const char *text, const char *key) {
  size_t klen = strlen(key);
  const char *p = text;
  while (p && *p) {
    if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
      p += klen + 1;
      while (*p == ' ' || *p == '\t') p++;
      return p;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return nullptr;
}

// The cgroup path of the hierarchy whose controller list contains `key` ("" means the v2 line
// "0::"), from the text of /proc/PID/cgroup.
static std::string CgroupPath(const char *text, const std::string &key) {
  const char *line = text;
  while (line && *line) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    const char *c1 = (const char *)memchr(line, ':', len);
    const char *c2 = c1 ? (const char *)memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : nullptr;
    if (c1 && c2) {
      std::string ctrls(c1 + 1, c2);
      bool match = false;
      if (key.empty()) {
        match = ctrls.empty();
      } else {
        size_t start = 0;
        while (start <= ctrls.size()) {
          size_t comma = ctrls.find(',', start);
          std::string one = ctrls.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (one == key) {
            match = true;
            break;
          }
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      }
      if (match) return std::string(c2 + 1, line + len);
    }
    line = end ? end + 1 : nullptr;
  }
  return std::string();
}

struct Light {
  int pid;
  int ppid;
};

// pid and ppid from /proc/PID/stat (a far cheaper read than status); false if it exited.
static bool ReadStat(int dirfd, const char *name, Light *out, char *buf, size_t cap) {
  if (ReadAt(dirfd, name, buf, cap) <= 0) return false;
  const char *rp = strrchr(buf, ')');  // comm may hold spaces and parentheses
  if (!rp || rp[1] != ' ' || !rp[2] || rp[3] != ' ') return false;
  out->pid = atoi(buf);
  out->ppid = atoi(rp + 4);
  return true;
}

// One process's details: status (Name, State, PPid, Uid, NSpid), namespace inodes, cgroup path.
static bool Detail(Napi::Env env, int procfd, const char *entry, int pid, const std::vector<std::string> &nsTypes,
                   bool wantCgroup, const std::string &cgKey, char *buf, size_t cap, Napi::Object *out) {
  int dfd = openat(procfd, entry, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  if (ReadAt(dfd, "status", buf, cap) <= 0) {
    close(dfd);
    return false;
  }
  const char *name = Field(buf, "Name");
  const char *state = Field(buf, "State");
  const char *ppid = Field(buf, "PPid");
  const char *uid = Field(buf, "Uid");
  const char *nspid = Field(buf, "NSpid");
  std::string comm = name ? std::string(name, strcspn(name, "\n")) : std::string();
  Napi::Object p = Napi::Object::New(env);
  p.Set("pid", Napi::Number::New(env, pid));
  p.Set("ppid", Napi::Number::New(env, ppid ? atoi(ppid) : 0));
  p.Set("comm", Napi::String::New(env, comm));
  p.Set("state", Napi::String::New(env, state ? std::string(state, 1) : std::string("?")));
  p.Set("uid", Napi::Number::New(env, uid ? atoi(uid) : -1));
  Napi::Array chain = Napi::Array::New(env);
  if (nspid) {
    const char *q = nspid;
    uint32_t k = 0;
    while (*q && *q != '\n') {
      char *endp;
      long v = strtol(q, &endp, 10);
      if (endp == q) break;
      chain.Set(k++, Napi::Number::New(env, (double)v));
      q = endp;
      while (*q == ' ' || *q == '\t') q++;
    }
  } else {
    chain.Set(0u, Napi::Number::New(env, pid));
  }
  p.Set("nspid", chain);
  Napi::Array ns = Napi::Array::New(env, nsTypes.size());
  for (size_t i = 0; i < nsTypes.size(); i++) {
    struct stat st;
    double ino = fstatat(dfd, nsTypes[i].c_str(), &st, 0) == 0 ? (double)st.st_ino : 0;
    ns.Set((uint32_t)i, Napi::Number::New(env, ino));
  }
  p.Set("ns", ns);
  if (wantCgroup && ReadAt(dfd, "cgroup", buf, cap) > 0) {
    p.Set("cgroup", Napi::String::New(env, CgroupPath(buf, cgKey)));
  } else {
    p.Set("cgroup", env.Null());
  }
  close(dfd);
  *out = p;
  return true;
}

// procSnapshot(nsTypes: string[], cgroupKey: string | null, select?: { roots?: number[], pids?: number[] })
//   -> { total, processes: Array<{ pid, ppid, comm, state, uid, nspid: number[], ns: number[], cgroup }> }
// ns[i] is the inode of /proc/PID/ns/<nsTypes[i]> (0 if unreadable). `total` counts every process.
// select.pids: only those processes are read. select.roots: those and their descendants (the
// parent links of every process come from the much cheaper /proc/PID/stat). Without select,
// every process in detail. Processes that exit during the scan are skipped.
Napi::Value ProcSnapshot(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<std::string> nsTypes;
  if (info.Length() > 0 && info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) nsTypes.push_back("ns/" + a.Get(i).ToString().Utf8Value());
  }
  bool wantCgroup = info.Length() > 1 && info[1].IsString();
  std::string cgKey = wantCgroup ? info[1].As<Napi::String>().Utf8Value() : "";
  // select: { roots?: number[], pids?: number[] }
  std::vector<int> roots, pids;
  bool byRoots = false, byPids = false;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object sel = info[2].As<Napi::Object>();
    auto ints = [](Napi::Value v, std::vector<int> &out) {
      if (!v.IsArray()) return false;
      Napi::Array a = v.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int32Value());
      return true;
    };
    byPids = ints(sel.Get("pids"), pids);
    if (!byPids) byRoots = ints(sel.Get("roots"), roots);
  }

  DIR *d = opendir("/proc");
  if (!d) {
    ErrnoError(env, errno, "opendir", "/proc").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  static char buf[8192];
  std::vector<std::string> entries;
  struct dirent *e;
  while ((e = readdir(d)) != nullptr) {
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') entries.push_back(e->d_name);
  }
  int procfd = dirfd(d);
  Napi::Array out = Napi::Array::New(env);
  uint32_t count = 0;
  if (byPids) {
    // Exactly these processes (e.g. the members of some cgroups): no scan of the others at all.
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    for (int pid : pids) {
      Napi::Object p;
      std::string name = std::to_string(pid);
      if (Detail(env, procfd, name.c_str(), pid, nsTypes, wantCgroup, cgKey, buf, sizeof buf, &p)) out.Set(count++, p);
    }
  } else if (!byRoots) {
    for (auto &name : entries) {
      Napi::Object p;
      if (Detail(env, procfd, name.c_str(), atoi(name.c_str()), nsTypes, wantCgroup, cgKey, buf, sizeof buf, &p)) out.Set(count++, p);
    }
  } else {
    std::vector<Light> all;
    all.reserve(entries.size());
    std::string statName;
    for (auto &name : entries) {
      Light l;
      statName = name + "/stat";
      if (ReadStat(procfd, statName.c_str(), &l, buf, sizeof buf)) all.push_back(l);
    }
    // Breadth-first from the roots over the parent links.
    std::vector<int> want(roots);
    for (size_t i = 0; i < want.size(); i++) {
      for (const Light &l : all)
        if (l.ppid == want[i] && l.pid != want[i]) want.push_back(l.pid);
      if (want.size() > 100000) break;
    }
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    for (int pid : want) {
      Napi::Object p;
      std::string name = std::to_string(pid);
      if (Detail(env, procfd, name.c_str(), pid, nsTypes, wantCgroup, cgKey, buf, sizeof buf, &p)) out.Set(count++, p);
    }
    entries.resize(all.size());
  }
  closedir(d);
  Napi::Object r = Napi::Object::New(env);
  r.Set("total", Napi::Number::New(env, (double)entries.size()));
  r.Set("processes", out);
  return r;
}

}  // namespace

void InitProc(Napi::Env env, Napi::Object exports) {
  exports.Set("procSnapshot", Napi::Function::New(env, ProcSnapshot));
}

}  // namespace sbx
