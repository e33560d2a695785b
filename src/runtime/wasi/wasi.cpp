#include "runtime/wasi/wasi.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include "wasm/interp/runtime.h"  // note_write: dirty-page tracking for the lifecycle layer

namespace rw::wasi {

// Guest structures are little-endian; we copy them field by field with memcpy.
static_assert(std::endian::native == std::endian::little,
              "the WASI host assumes a little-endian host");

namespace {

// Rights (wasi_snapshot_preview1 `rights` bits).
constexpr uint64_t kRightFdDatasync = 1ull << 0;
constexpr uint64_t kRightFdRead = 1ull << 1;
constexpr uint64_t kRightFdFdstatSetFlags = 1ull << 3;
constexpr uint64_t kRightFdWrite = 1ull << 6;
constexpr uint64_t kRightFdAllocate = 1ull << 8;
constexpr uint64_t kRightFdReaddir = 1ull << 14;
constexpr uint64_t kRightFdFilestatGet = 1ull << 21;
constexpr uint64_t kRightFdFilestatSetSize = 1ull << 22;
constexpr uint64_t kRightPollFdReadwrite = 1ull << 27;
constexpr uint64_t kAllRights = (1ull << 30) - 1;

constexpr uint8_t kFiletypeUnknown = 0;
constexpr uint8_t kFiletypeBlockDevice = 1;
constexpr uint8_t kFiletypeCharacterDevice = 2;
constexpr uint8_t kFiletypeDirectory = 3;
constexpr uint8_t kFiletypeRegularFile = 4;
constexpr uint8_t kFiletypeSocketStream = 6;
constexpr uint8_t kFiletypeSymbolicLink = 7;

constexpr uint16_t kFdflagAppend = 1;
constexpr uint16_t kFdflagDsync = 2;
constexpr uint16_t kFdflagNonblock = 4;
constexpr uint16_t kFdflagRsync = 8;
constexpr uint16_t kFdflagSync = 16;

constexpr uint16_t kOflagCreat = 1;
constexpr uint16_t kOflagDirectory = 2;
constexpr uint16_t kOflagExcl = 4;
constexpr uint16_t kOflagTrunc = 8;

constexpr uint32_t kLookupSymlinkFollow = 1;

constexpr uint32_t kClockRealtime = 0;
constexpr uint32_t kClockMonotonic = 1;
constexpr uint32_t kClockProcessCputime = 2;
constexpr uint32_t kClockThreadCputime = 3;

constexpr uint8_t kEventClock = 0;
constexpr uint8_t kEventFdRead = 1;
constexpr uint8_t kEventFdWrite = 2;
constexpr uint16_t kSubclockAbstime = 1;

// A guest may not hold more descriptors than this, so it cannot exhaust the host's.
constexpr size_t kMaxOpenFds = 1024;
constexpr size_t kMaxPathLength = 4096;

// The caller's linear memory, with bounds-checked access. Linear memory does not move while a
// host function runs (no guest code runs meanwhile), so a raw base pointer is safe here.
class GuestMemory {
 public:
  explicit GuestMemory(std::optional<Memory> memory)
      : base_(memory ? memory->data() : nullptr),
        size_(memory ? memory->size_bytes() : 0),
        impl_(memory ? memory->impl() : nullptr) {}

  bool contains(uint32_t address, uint64_t length) const {
    return static_cast<uint64_t>(address) + length <= size_;
  }
  // Pointer to [address, address + length), or nullptr when it is not inside the memory.
  uint8_t* range(uint32_t address, uint64_t length) const {
    if (!contains(address, length) || base_ == nullptr) return nullptr;
    // These writes bypass the engine's store path: report them to the lifecycle layer's
    // dirty-page tracking (docs/lifecycle.md) so rollback and reset undo them. Ranges only read
    // are reported too, which costs a page copy at most and keeps this one line.
    internal::note_write(impl_, address, length);
    return base_ + address;
  }
  template <class T>
  bool load(uint32_t address, T& out) const {
    const uint8_t* p = range(address, sizeof(T));
    if (!p) return false;
    std::memcpy(&out, p, sizeof(T));
    return true;
  }
  template <class T>
  bool store(uint32_t address, T value) {
    uint8_t* p = range(address, sizeof(T));
    if (!p) return false;
    std::memcpy(p, &value, sizeof(T));
    return true;
  }

 private:
  uint8_t* base_;
  uint64_t size_;
  internal::MemoryInst* impl_;
};

Errno from_host_errno(int error) {
  switch (error) {
    case E2BIG: return Errno::TooBig;
    case EACCES: return Errno::Access;
    case EAGAIN: return Errno::Again;
    case EBADF: return Errno::BadF;
    case EBUSY: return Errno::Busy;
    case EEXIST: return Errno::Exist;
    case EFAULT: return Errno::Fault;
    case EFBIG: return Errno::FileTooBig;
    case EINTR: return Errno::Intr;
    case EINVAL: return Errno::Inval;
    case EIO: return Errno::IO;
    case EISDIR: return Errno::IsDir;
    case ELOOP: return Errno::Loop;
    case EMFILE: return Errno::MFile;
    case ENAMETOOLONG: return Errno::NameTooLong;
    case ENFILE: return Errno::NFile;
    case ENOBUFS: return Errno::NoBufs;
    case ENOENT: return Errno::NoEnt;
    case ENOMEM: return Errno::NoMem;
    case ENOSPC: return Errno::NoSpc;
    case ENOSYS: return Errno::NoSys;
    case ENOTDIR: return Errno::NotDir;
    case ENOTEMPTY: return Errno::NotEmpty;
    case EOPNOTSUPP: return Errno::NotSup;
    case ENOTTY: return Errno::NotTty;
    case EOVERFLOW: return Errno::Overflow;
    case EPERM: return Errno::Perm;
    case EPIPE: return Errno::Pipe;
    case EROFS: return Errno::ROFS;
    case ESPIPE: return Errno::SPipe;
    // RESOLVE_BENEATH reports an escape from the preopened directory as EXDEV.
    case EXDEV: return Errno::NotCapable;
    default: return Errno::IO;
  }
}

uint8_t filetype_of(mode_t mode) {
  if (S_ISREG(mode)) return kFiletypeRegularFile;
  if (S_ISDIR(mode)) return kFiletypeDirectory;
  if (S_ISCHR(mode)) return kFiletypeCharacterDevice;
  if (S_ISBLK(mode)) return kFiletypeBlockDevice;
  if (S_ISLNK(mode)) return kFiletypeSymbolicLink;
  if (S_ISSOCK(mode)) return kFiletypeSocketStream;
  return kFiletypeUnknown;
}

uint64_t timespec_ns(const struct timespec& ts) {
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Writes a 64-byte `filestat`.
bool store_filestat(GuestMemory& mem, uint32_t address, const struct stat* st) {
  uint8_t* p = mem.range(address, 64);
  if (!p) return false;
  std::memset(p, 0, 64);
  if (st == nullptr) {  // stdio: a character device with nothing else to report
    p[16] = kFiletypeCharacterDevice;
    return true;
  }
  uint64_t fields[8] = {static_cast<uint64_t>(st->st_dev),  static_cast<uint64_t>(st->st_ino),
                        filetype_of(st->st_mode),           static_cast<uint64_t>(st->st_nlink),
                        static_cast<uint64_t>(st->st_size), timespec_ns(st->st_atim),
                        timespec_ns(st->st_mtim),           timespec_ns(st->st_ctim)};
  std::memcpy(p, fields, sizeof fields);
  return true;
}

// Opens `path` relative to `dir_fd` without letting it resolve outside that directory (no
// absolute paths, no `..` above it, no symlinks leading out).
int open_beneath(int dir_fd, const std::string& path, int flags, mode_t mode, bool follow_last,
                 Errno& error) {
  if (path.empty()) {
    error = Errno::NoEnt;
    return -1;
  }
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how);
  if (fd >= 0) return static_cast<int>(fd);
  if (errno != ENOSYS) {
    error = from_host_errno(errno);
    return -1;
  }
  // Kernels before 5.6 have no openat2: confine lexically. Symlinks in the middle of the path are
  // then not confined, which is why openat2 is preferred.
  if (path.front() == '/') {
    error = Errno::NotCapable;
    return -1;
  }
  int depth = 0;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part == "..") {
      if (--depth < 0) {
        error = Errno::NotCapable;
        return -1;
      }
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  int result =
      openat(dir_fd, path.c_str(), flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW), mode);
  if (result < 0) error = from_host_errno(errno);
  return result;
}

}  // namespace

struct WasiContext::Fd {
  enum class Kind : uint8_t { Stdin, Stdout, Stderr, File, Directory };
  Kind kind = Kind::File;
  int host_fd = -1;  // owned, for File and Directory
  bool is_preopen = false;
  std::string preopen_name;
  uint8_t filetype = kFiletypeUnknown;
  uint64_t rights_base = 0;
  uint64_t rights_inheriting = 0;
  uint16_t fdflags = 0;

  ~Fd() {
    if (host_fd >= 0) ::close(host_fd);
  }
  bool is_stdio() const {
    return kind == Kind::Stdin || kind == Kind::Stdout || kind == Kind::Stderr;
  }
};

void WasiConfig::inherit_stdio() {
  auto write_all = [](int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  };
  stdout_sink = [write_all](std::string_view bytes) { write_all(STDOUT_FILENO, bytes); };
  stderr_sink = [write_all](std::string_view bytes) { write_all(STDERR_FILENO, bytes); };
  stdin_source = [](std::span<uint8_t> buffer) -> int64_t {
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  };
}

std::optional<uint32_t> exit_code_of(const CallResult& result) {
  if (result.outcome != Outcome::HostError || !result.host_error) return std::nullopt;
  try {
    std::rethrow_exception(result.host_error);
  } catch (const ExitRequest& request) {
    return request.code;
  } catch (...) {
  }
  return std::nullopt;
}

WasiContext::WasiContext(WasiConfig config) : config_(std::move(config)) {}
WasiContext::~WasiContext() = default;

Result<std::shared_ptr<WasiContext>> WasiContext::create(WasiConfig config) {
  std::shared_ptr<WasiContext> context(new WasiContext(std::move(config)));
  auto add_stdio = [&](uint32_t number, Fd::Kind kind, uint64_t rights) {
    auto fd = std::make_unique<Fd>();
    fd->kind = kind;
    fd->filetype = kFiletypeCharacterDevice;
    fd->rights_base = rights | kRightFdFdstatSetFlags | kRightFdFilestatGet | kRightPollFdReadwrite;
    context->fds_[number] = std::move(fd);
  };
  add_stdio(0, Fd::Kind::Stdin, kRightFdRead);
  add_stdio(1, Fd::Kind::Stdout, kRightFdWrite);
  add_stdio(2, Fd::Kind::Stderr, kRightFdWrite);
  uint32_t number = 3;
  for (const Preopen& preopen : context->config_.preopens) {
    int host_fd = ::open(preopen.host_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (host_fd < 0) {
      Error error;
      error.kind = Error::Kind::Other;
      error.message =
          "cannot open preopened directory '" + preopen.host_path + "': " + std::strerror(errno);
      return error;
    }
    auto fd = std::make_unique<Fd>();
    fd->kind = Fd::Kind::Directory;
    fd->host_fd = host_fd;
    fd->is_preopen = true;
    fd->preopen_name = preopen.guest_path.empty() ? preopen.host_path : preopen.guest_path;
    fd->filetype = kFiletypeDirectory;
    fd->rights_base = kAllRights;
    fd->rights_inheriting = kAllRights;
    context->fds_[number++] = std::move(fd);
  }
  return context;
}

// The host functions. Each takes the guest's arguments and returns a WASI errno; the wrapper in
// define_imports turns that into the i32 result.
struct WasiContext::Impl {
  using Args = std::span<const Value>;

  static uint32_t u32(Args a, size_t i) { return a[i].i32; }
  static uint64_t u64(Args a, size_t i) { return a[i].i64; }

  static Fd* find_fd(WasiContext& ctx, uint32_t number) {
    auto it = ctx.fds_.find(number);
    return it == ctx.fds_.end() ? nullptr : it->second.get();
  }

  // A guest string (not NUL-terminated); embedded NULs are refused since the host cannot pass
  // them on.
  static Errno read_path(GuestMemory& mem, uint32_t address, uint32_t length, std::string& out) {
    if (length > kMaxPathLength) return Errno::NameTooLong;
    const uint8_t* p = mem.range(address, length);
    if (!p && length != 0) return Errno::Fault;
    out.assign(reinterpret_cast<const char*>(p), length);
    if (out.find('\0') != std::string::npos) return Errno::Inval;
    return Errno::Success;
  }

  // Checks every iovec of a scatter/gather list before any of it is used, so a bad entry fails
  // the whole call with EFAULT and no side effect.
  static Errno check_iovs(GuestMemory& mem, uint32_t iovs, uint32_t count) {
    if (!mem.contains(iovs, static_cast<uint64_t>(count) * 8)) return Errno::Fault;
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t buf = 0, len = 0;
      mem.load(iovs + i * 8, buf);
      mem.load(iovs + i * 8 + 4, len);
      if (!mem.contains(buf, len)) return Errno::Fault;
    }
    return Errno::Success;
  }
  static std::span<uint8_t> iov(GuestMemory& mem, uint32_t iovs, uint32_t i) {
    uint32_t buf = 0, len = 0;
    mem.load(iovs + i * 8, buf);
    mem.load(iovs + i * 8 + 4, len);
    uint8_t* p = mem.range(buf, len);
    return p ? std::span<uint8_t>(p, len) : std::span<uint8_t>();
  }

  // args_get / environ_get share one layout: an array of pointers and a buffer of NUL-terminated
  // strings.
  static Errno strings_sizes_get(GuestMemory& mem, const std::vector<std::string>& strings,
                                 uint32_t count_ptr, uint32_t size_ptr) {
    uint64_t total = 0;
    for (const auto& s : strings) total += s.size() + 1;
    if (total > UINT32_MAX) return Errno::Overflow;
    if (!mem.contains(count_ptr, 4) || !mem.contains(size_ptr, 4)) return Errno::Fault;
    mem.store(count_ptr, static_cast<uint32_t>(strings.size()));
    mem.store(size_ptr, static_cast<uint32_t>(total));
    return Errno::Success;
  }
  static Errno strings_get(GuestMemory& mem, const std::vector<std::string>& strings,
                           uint32_t array_ptr, uint32_t buf_ptr) {
    uint64_t total = 0;
    for (const auto& s : strings) total += s.size() + 1;
    if (!mem.contains(array_ptr, static_cast<uint64_t>(strings.size()) * 4) ||
        !mem.contains(buf_ptr, total))
      return Errno::Fault;
    uint32_t offset = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      mem.store(array_ptr + static_cast<uint32_t>(i) * 4, buf_ptr + offset);
      uint8_t* dest = mem.range(buf_ptr + offset, strings[i].size() + 1);
      std::memcpy(dest, strings[i].data(), strings[i].size());
      dest[strings[i].size()] = 0;
      offset += static_cast<uint32_t>(strings[i].size() + 1);
    }
    return Errno::Success;
  }

  static Errno args_sizes_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    return strings_sizes_get(mem, ctx.config_.args, u32(a, 0), u32(a, 1));
  }
  static Errno args_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    return strings_get(mem, ctx.config_.args, u32(a, 0), u32(a, 1));
  }
  static Errno environ_sizes_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    return strings_sizes_get(mem, ctx.config_.env, u32(a, 0), u32(a, 1));
  }
  static Errno environ_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    return strings_get(mem, ctx.config_.env, u32(a, 0), u32(a, 1));
  }

  static bool host_clock(uint32_t id, clockid_t& out) {
    switch (id) {
      case kClockRealtime: out = CLOCK_REALTIME; return true;
      case kClockMonotonic: out = CLOCK_MONOTONIC; return true;
      case kClockProcessCputime: out = CLOCK_PROCESS_CPUTIME_ID; return true;
      case kClockThreadCputime: out = CLOCK_THREAD_CPUTIME_ID; return true;
      default: return false;
    }
  }
  static Errno clock_res_get(WasiContext&, GuestMemory& mem, Args a) {
    clockid_t clock;
    if (!host_clock(u32(a, 0), clock)) return Errno::Inval;
    struct timespec ts {};
    if (clock_getres(clock, &ts) != 0) return from_host_errno(errno);
    return mem.store<uint64_t>(u32(a, 1), timespec_ns(ts)) ? Errno::Success : Errno::Fault;
  }
  static Errno clock_time_get(WasiContext&, GuestMemory& mem, Args a) {
    clockid_t clock;
    if (!host_clock(u32(a, 0), clock)) return Errno::Inval;
    struct timespec ts {};
    if (clock_gettime(clock, &ts) != 0) return from_host_errno(errno);
    return mem.store<uint64_t>(u32(a, 2), timespec_ns(ts)) ? Errno::Success : Errno::Fault;
  }

  static Errno random_get(WasiContext&, GuestMemory& mem, Args a) {
    uint8_t* p = mem.range(u32(a, 0), u32(a, 1));
    if (!p && u32(a, 1) != 0) return Errno::Fault;
    size_t filled = 0, length = u32(a, 1);
    while (filled < length) {
      ssize_t n = getrandom(p + filled, length - filled, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::random_device device;
        for (; filled < length; ++filled) p[filled] = static_cast<uint8_t>(device());
        break;
      }
      filled += static_cast<size_t>(n);
    }
    return Errno::Success;
  }

  static Errno fd_write(WasiContext& ctx, GuestMemory& mem, Args a) {
    uint32_t iovs = u32(a, 1), count = u32(a, 2), nwritten_ptr = u32(a, 3);
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (!(fd->rights_base & kRightFdWrite)) return Errno::BadF;
    if (Errno e = check_iovs(mem, iovs, count); e != Errno::Success) return e;
    if (!mem.contains(nwritten_ptr, 4)) return Errno::Fault;
    uint64_t written = 0;
    for (uint32_t i = 0; i < count && written < UINT32_MAX; ++i) {
      std::span<uint8_t> data = iov(mem, iovs, i);
      if (data.size() > UINT32_MAX - written) data = data.first(UINT32_MAX - written);
      if (data.empty()) continue;
      if (fd->is_stdio()) {
        const OutputSink& sink =
            fd->kind == Fd::Kind::Stdout ? ctx.config_.stdout_sink : ctx.config_.stderr_sink;
        if (sink) sink(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
        written += data.size();
        continue;
      }
      ssize_t n = ::write(fd->host_fd, data.data(), data.size());
      if (n < 0) {
        if (written == 0) return from_host_errno(errno);
        break;
      }
      written += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < data.size()) break;
    }
    mem.store(nwritten_ptr, static_cast<uint32_t>(written));
    return Errno::Success;
  }

  static Errno fd_read(WasiContext& ctx, GuestMemory& mem, Args a) {
    uint32_t iovs = u32(a, 1), count = u32(a, 2), nread_ptr = u32(a, 3);
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (!(fd->rights_base & kRightFdRead)) return Errno::BadF;
    if (Errno e = check_iovs(mem, iovs, count); e != Errno::Success) return e;
    if (!mem.contains(nread_ptr, 4)) return Errno::Fault;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count && total < UINT32_MAX; ++i) {
      std::span<uint8_t> data = iov(mem, iovs, i);
      if (data.size() > UINT32_MAX - total) data = data.first(UINT32_MAX - total);
      if (data.empty()) continue;
      int64_t n;
      if (fd->is_stdio()) {
        n = ctx.config_.stdin_source ? ctx.config_.stdin_source(data) : 0;
        if (n < 0) errno = EIO;
        if (n > static_cast<int64_t>(data.size())) n = static_cast<int64_t>(data.size());
      } else {
        n = ::read(fd->host_fd, data.data(), data.size());
      }
      if (n < 0) {
        if (total == 0) return from_host_errno(errno);
        break;
      }
      total += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < data.size()) break;
    }
    mem.store(nread_ptr, static_cast<uint32_t>(total));
    return Errno::Success;
  }

  static Errno fd_pread(WasiContext& ctx, GuestMemory& mem, Args a) {
    uint32_t iovs = u32(a, 1), count = u32(a, 2), nread_ptr = u32(a, 4);
    uint64_t offset = u64(a, 3);
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->is_stdio()) return Errno::SPipe;
    if (!(fd->rights_base & kRightFdRead)) return Errno::BadF;
    if (offset > static_cast<uint64_t>(INT64_MAX)) return Errno::Inval;
    if (Errno e = check_iovs(mem, iovs, count); e != Errno::Success) return e;
    if (!mem.contains(nread_ptr, 4)) return Errno::Fault;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count && total < UINT32_MAX; ++i) {
      std::span<uint8_t> data = iov(mem, iovs, i);
      if (data.size() > UINT32_MAX - total) data = data.first(UINT32_MAX - total);
      if (data.empty()) continue;
      ssize_t n =
          ::pread(fd->host_fd, data.data(), data.size(), static_cast<off_t>(offset + total));
      if (n < 0) {
        if (total == 0) return from_host_errno(errno);
        break;
      }
      total += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < data.size()) break;
    }
    mem.store(nread_ptr, static_cast<uint32_t>(total));
    return Errno::Success;
  }

  static Errno fd_pwrite(WasiContext& ctx, GuestMemory& mem, Args a) {
    uint32_t iovs = u32(a, 1), count = u32(a, 2), nwritten_ptr = u32(a, 4);
    uint64_t offset = u64(a, 3);
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->is_stdio()) return Errno::SPipe;
    if (!(fd->rights_base & kRightFdWrite)) return Errno::BadF;
    if (offset > static_cast<uint64_t>(INT64_MAX)) return Errno::Inval;
    if (Errno e = check_iovs(mem, iovs, count); e != Errno::Success) return e;
    if (!mem.contains(nwritten_ptr, 4)) return Errno::Fault;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count && total < UINT32_MAX; ++i) {
      std::span<uint8_t> data = iov(mem, iovs, i);
      if (data.size() > UINT32_MAX - total) data = data.first(UINT32_MAX - total);
      if (data.empty()) continue;
      ssize_t n =
          ::pwrite(fd->host_fd, data.data(), data.size(), static_cast<off_t>(offset + total));
      if (n < 0) {
        if (total == 0) return from_host_errno(errno);
        break;
      }
      total += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < data.size()) break;
    }
    mem.store(nwritten_ptr, static_cast<uint32_t>(total));
    return Errno::Success;
  }

  static Errno fd_close(WasiContext& ctx, GuestMemory&, Args a) {
    auto it = ctx.fds_.find(u32(a, 0));
    if (it == ctx.fds_.end()) return Errno::BadF;
    ctx.fds_.erase(it);
    return Errno::Success;
  }

  static Errno fd_seek(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->is_stdio()) return Errno::SPipe;
    if (fd->kind == Fd::Kind::Directory) return Errno::IsDir;
    int whence;
    switch (u32(a, 2)) {
      case 0: whence = SEEK_SET; break;
      case 1: whence = SEEK_CUR; break;
      case 2: whence = SEEK_END; break;
      default: return Errno::Inval;
    }
    uint32_t result_ptr = u32(a, 3);
    if (!mem.contains(result_ptr, 8)) return Errno::Fault;
    off_t position = ::lseek(fd->host_fd, static_cast<off_t>(a[1].as_i64()), whence);
    if (position < 0) return from_host_errno(errno);
    mem.store<uint64_t>(result_ptr, static_cast<uint64_t>(position));
    return Errno::Success;
  }

  static Errno fd_tell(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->is_stdio()) return Errno::SPipe;
    if (!mem.contains(u32(a, 1), 8)) return Errno::Fault;
    off_t position = ::lseek(fd->host_fd, 0, SEEK_CUR);
    if (position < 0) return from_host_errno(errno);
    mem.store<uint64_t>(u32(a, 1), static_cast<uint64_t>(position));
    return Errno::Success;
  }

  static Errno fd_sync(WasiContext& ctx, GuestMemory&, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->is_stdio()) return Errno::Success;
    return ::fsync(fd->host_fd) == 0 ? Errno::Success : from_host_errno(errno);
  }

  static Errno fd_fdstat_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    uint8_t* p = mem.range(u32(a, 1), 24);
    if (!p) return Errno::Fault;
    std::memset(p, 0, 24);
    p[0] = fd->filetype;
    std::memcpy(p + 2, &fd->fdflags, 2);
    std::memcpy(p + 8, &fd->rights_base, 8);
    std::memcpy(p + 16, &fd->rights_inheriting, 8);
    return Errno::Success;
  }

  static Errno fd_fdstat_set_flags(WasiContext& ctx, GuestMemory&, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    uint32_t flags = u32(a, 1);
    if (flags &
        ~uint32_t{kFdflagAppend | kFdflagDsync | kFdflagNonblock | kFdflagRsync | kFdflagSync})
      return Errno::Inval;
    if (!fd->is_stdio()) {
      // Linux only lets F_SETFL change these two.
      int host_flags = ::fcntl(fd->host_fd, F_GETFL);
      if (host_flags < 0) return from_host_errno(errno);
      host_flags &= ~(O_APPEND | O_NONBLOCK);
      if (flags & kFdflagAppend) host_flags |= O_APPEND;
      if (flags & kFdflagNonblock) host_flags |= O_NONBLOCK;
      if (::fcntl(fd->host_fd, F_SETFL, host_flags) != 0) return from_host_errno(errno);
    }
    fd->fdflags = static_cast<uint16_t>(flags);
    return Errno::Success;
  }

  static Errno fd_prestat_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd || !fd->is_preopen) return Errno::BadF;
    uint8_t* p = mem.range(u32(a, 1), 8);
    if (!p) return Errno::Fault;
    std::memset(p, 0, 8);  // tag 0: a directory
    uint32_t length = static_cast<uint32_t>(fd->preopen_name.size());
    std::memcpy(p + 4, &length, 4);
    return Errno::Success;
  }

  static Errno fd_prestat_dir_name(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd || !fd->is_preopen) return Errno::BadF;
    uint32_t length = u32(a, 2);
    uint8_t* p = mem.range(u32(a, 1), length);
    if (!p && length != 0) return Errno::Fault;
    if (length < fd->preopen_name.size()) return Errno::NameTooLong;
    std::memcpy(p, fd->preopen_name.data(), fd->preopen_name.size());
    return Errno::Success;
  }

  static Errno fd_filestat_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (!mem.contains(u32(a, 1), 64)) return Errno::Fault;
    if (fd->is_stdio()) {
      store_filestat(mem, u32(a, 1), nullptr);
      return Errno::Success;
    }
    struct stat st {};
    if (::fstat(fd->host_fd, &st) != 0) return from_host_errno(errno);
    store_filestat(mem, u32(a, 1), &st);
    return Errno::Success;
  }

  static Errno fd_filestat_set_size(WasiContext& ctx, GuestMemory&, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->kind != Fd::Kind::File) return Errno::Inval;
    if (!(fd->rights_base & kRightFdFilestatSetSize)) return Errno::NotCapable;
    if (u64(a, 1) > static_cast<uint64_t>(INT64_MAX)) return Errno::Inval;
    return ::ftruncate(fd->host_fd, static_cast<off_t>(u64(a, 1))) == 0 ? Errno::Success
                                                                        : from_host_errno(errno);
  }

  static Errno fd_readdir(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* fd = find_fd(ctx, u32(a, 0));
    if (!fd) return Errno::BadF;
    if (fd->kind != Fd::Kind::Directory) return Errno::NotDir;
    uint32_t buf = u32(a, 1), buf_len = u32(a, 2), used_ptr = u32(a, 4);
    uint64_t cookie = u64(a, 3);
    uint8_t* out = mem.range(buf, buf_len);
    if ((!out && buf_len != 0) || !mem.contains(used_ptr, 4)) return Errno::Fault;

    // Each call lists the directory afresh; the cookie is the index of the next entry.
    int list_fd = ::openat(fd->host_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (list_fd < 0) return from_host_errno(errno);
    DIR* dir = ::fdopendir(list_fd);
    if (!dir) {
      ::close(list_fd);
      return from_host_errno(errno);
    }
    uint32_t used = 0;
    uint64_t index = 0;
    while (used < buf_len) {
      errno = 0;
      struct dirent* entry = ::readdir(dir);
      if (!entry) break;
      if (index++ < cookie) continue;
      size_t name_length = std::strlen(entry->d_name);
      uint8_t header[24] = {};
      uint64_t next = index;
      uint64_t inode = entry->d_ino;
      uint32_t name_length32 = static_cast<uint32_t>(name_length);
      uint8_t type = kFiletypeUnknown;
      switch (entry->d_type) {
        case DT_REG: type = kFiletypeRegularFile; break;
        case DT_DIR: type = kFiletypeDirectory; break;
        case DT_CHR: type = kFiletypeCharacterDevice; break;
        case DT_BLK: type = kFiletypeBlockDevice; break;
        case DT_LNK: type = kFiletypeSymbolicLink; break;
        case DT_SOCK: type = kFiletypeSocketStream; break;
        default: break;
      }
      std::memcpy(header, &next, 8);
      std::memcpy(header + 8, &inode, 8);
      std::memcpy(header + 16, &name_length32, 4);
      header[20] = type;
      // Entries that do not fit are truncated: the guest sees a full buffer and asks again.
      uint32_t n = std::min<uint32_t>(24, buf_len - used);
      std::memcpy(out + used, header, n);
      used += n;
      n = static_cast<uint32_t>(std::min<uint64_t>(name_length, buf_len - used));
      std::memcpy(out + used, entry->d_name, n);
      used += n;
    }
    ::closedir(dir);
    mem.store(used_ptr, used);
    return Errno::Success;
  }

  // Resolves the directory descriptor a path_* call starts from.
  static Errno directory_fd(WasiContext& ctx, uint32_t number, Fd*& out) {
    out = find_fd(ctx, number);
    if (!out) return Errno::BadF;
    if (out->kind != Fd::Kind::Directory) return Errno::NotDir;
    return Errno::Success;
  }

  static uint32_t allocate_fd_number(WasiContext& ctx) {
    uint32_t number = 3;
    for (const auto& [existing, fd] : ctx.fds_) {
      if (existing < number) continue;
      if (existing != number) break;
      ++number;
    }
    return number;
  }

  static Errno path_open(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), dir); e != Errno::Success) return e;
    uint32_t lookup = u32(a, 1), oflags = u32(a, 4), fdflags = u32(a, 7), result_ptr = u32(a, 8);
    uint64_t rights_base = u64(a, 5), rights_inheriting = u64(a, 6);
    std::string path;
    if (Errno e = read_path(mem, u32(a, 2), u32(a, 3), path); e != Errno::Success) return e;
    if (!mem.contains(result_ptr, 4)) return Errno::Fault;
    if (ctx.fds_.size() >= kMaxOpenFds) return Errno::MFile;

    bool want_read = rights_base & (kRightFdRead | kRightFdReaddir);
    bool want_write = rights_base & (kRightFdWrite | kRightFdAllocate | kRightFdFilestatSetSize |
                                     kRightFdDatasync);
    int flags = 0;
    if (oflags & kOflagDirectory) {
      flags = O_RDONLY | O_DIRECTORY;
      want_write = false;
    } else if (want_write) {
      flags = want_read ? O_RDWR : O_WRONLY;
    } else {
      flags = O_RDONLY;
    }
    if (oflags & kOflagCreat) flags |= O_CREAT;
    if (oflags & kOflagExcl) flags |= O_EXCL;
    if (oflags & kOflagTrunc) flags |= O_TRUNC;
    if (fdflags & kFdflagAppend) flags |= O_APPEND;
    if (fdflags & kFdflagNonblock) flags |= O_NONBLOCK;
    if (fdflags & kFdflagDsync) flags |= O_DSYNC;
    if (fdflags & kFdflagSync) flags |= O_SYNC;
    if (fdflags & kFdflagRsync) flags |= O_RSYNC;

    Errno error = Errno::Success;
    int host_fd =
        open_beneath(dir->host_fd, path, flags, 0666, lookup & kLookupSymlinkFollow, error);
    if (host_fd < 0) return error;
    struct stat st {};
    if (::fstat(host_fd, &st) != 0) {
      Errno e = from_host_errno(errno);
      ::close(host_fd);
      return e;
    }
    auto fd = std::make_unique<Fd>();
    fd->host_fd = host_fd;
    fd->filetype = filetype_of(st.st_mode);
    fd->kind = S_ISDIR(st.st_mode) ? Fd::Kind::Directory : Fd::Kind::File;
    uint64_t allowed = kAllRights;
    if (!want_read) allowed &= ~(kRightFdRead | kRightFdReaddir);
    if (!want_write)
      allowed &= ~(kRightFdWrite | kRightFdAllocate | kRightFdFilestatSetSize | kRightFdDatasync);
    fd->rights_base = rights_base & allowed & dir->rights_inheriting;
    fd->rights_inheriting = rights_inheriting & dir->rights_inheriting;
    fd->fdflags = static_cast<uint16_t>(fdflags);
    uint32_t number = allocate_fd_number(ctx);
    ctx.fds_[number] = std::move(fd);
    mem.store(result_ptr, number);
    return Errno::Success;
  }

  // For path operations on the last component (mkdir, unlink, rename, readlink): opens the
  // parent directory beneath `dir` and returns the leaf name.
  struct Parent {
    int fd = -1;
    std::string leaf;
    ~Parent() {
      if (fd >= 0) ::close(fd);
    }
  };
  static Errno open_parent(Fd* dir, std::string path, Parent& out) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path.empty()) return Errno::NoEnt;
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : path.substr(0, slash);
    out.leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    if (parent.empty()) return Errno::NotCapable;  // an absolute path
    if (out.leaf.empty() || out.leaf == "." || out.leaf == "..") return Errno::Inval;
    Errno error = Errno::Success;
    out.fd = open_beneath(dir->host_fd, parent, O_PATH | O_DIRECTORY, 0, true, error);
    return out.fd < 0 ? error : Errno::Success;
  }

  static Errno path_create_directory(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), dir); e != Errno::Success) return e;
    std::string path;
    if (Errno e = read_path(mem, u32(a, 1), u32(a, 2), path); e != Errno::Success) return e;
    Parent parent;
    if (Errno e = open_parent(dir, path, parent); e != Errno::Success) return e;
    return ::mkdirat(parent.fd, parent.leaf.c_str(), 0777) == 0 ? Errno::Success
                                                                : from_host_errno(errno);
  }

  static Errno unlink(WasiContext& ctx, GuestMemory& mem, Args a, int flags) {
    Fd* dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), dir); e != Errno::Success) return e;
    std::string path;
    if (Errno e = read_path(mem, u32(a, 1), u32(a, 2), path); e != Errno::Success) return e;
    Parent parent;
    if (Errno e = open_parent(dir, path, parent); e != Errno::Success) return e;
    return ::unlinkat(parent.fd, parent.leaf.c_str(), flags) == 0 ? Errno::Success
                                                                  : from_host_errno(errno);
  }
  static Errno path_unlink_file(WasiContext& ctx, GuestMemory& mem, Args a) {
    return unlink(ctx, mem, a, 0);
  }
  static Errno path_remove_directory(WasiContext& ctx, GuestMemory& mem, Args a) {
    return unlink(ctx, mem, a, AT_REMOVEDIR);
  }

  static Errno path_rename(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd *from_dir, *to_dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), from_dir); e != Errno::Success) return e;
    if (Errno e = directory_fd(ctx, u32(a, 3), to_dir); e != Errno::Success) return e;
    std::string from_path, to_path;
    if (Errno e = read_path(mem, u32(a, 1), u32(a, 2), from_path); e != Errno::Success) return e;
    if (Errno e = read_path(mem, u32(a, 4), u32(a, 5), to_path); e != Errno::Success) return e;
    Parent from, to;
    if (Errno e = open_parent(from_dir, from_path, from); e != Errno::Success) return e;
    if (Errno e = open_parent(to_dir, to_path, to); e != Errno::Success) return e;
    return ::renameat(from.fd, from.leaf.c_str(), to.fd, to.leaf.c_str()) == 0
               ? Errno::Success
               : from_host_errno(errno);
  }

  static Errno path_readlink(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), dir); e != Errno::Success) return e;
    std::string path;
    if (Errno e = read_path(mem, u32(a, 1), u32(a, 2), path); e != Errno::Success) return e;
    uint32_t buf_len = u32(a, 4);
    uint8_t* out = mem.range(u32(a, 3), buf_len);
    if ((!out && buf_len != 0) || !mem.contains(u32(a, 5), 4)) return Errno::Fault;
    Parent parent;
    if (Errno e = open_parent(dir, path, parent); e != Errno::Success) return e;
    char target[kMaxPathLength];
    ssize_t n = ::readlinkat(parent.fd, parent.leaf.c_str(), target, sizeof target);
    if (n < 0) return from_host_errno(errno);
    uint32_t copied = static_cast<uint32_t>(std::min<uint64_t>(static_cast<uint64_t>(n), buf_len));
    if (copied) std::memcpy(out, target, copied);
    mem.store(u32(a, 5), copied);
    return Errno::Success;
  }

  static Errno path_filestat_get(WasiContext& ctx, GuestMemory& mem, Args a) {
    Fd* dir;
    if (Errno e = directory_fd(ctx, u32(a, 0), dir); e != Errno::Success) return e;
    std::string path;
    if (Errno e = read_path(mem, u32(a, 2), u32(a, 3), path); e != Errno::Success) return e;
    if (!mem.contains(u32(a, 4), 64)) return Errno::Fault;
    Errno error = Errno::Success;
    int fd = open_beneath(dir->host_fd, path, O_PATH, 0, u32(a, 1) & kLookupSymlinkFollow, error);
    if (fd < 0) return error;
    struct stat st {};
    int rc = ::fstat(fd, &st);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return from_host_errno(saved);
    store_filestat(mem, u32(a, 4), &st);
    return Errno::Success;
  }

  static Errno poll_oneoff(WasiContext& ctx, GuestMemory& mem, Args a) {
    uint32_t in = u32(a, 0), out = u32(a, 1), count = u32(a, 2), nevents_ptr = u32(a, 3);
    if (count == 0) return Errno::Inval;
    if (!mem.contains(in, uint64_t{count} * 48) || !mem.contains(out, uint64_t{count} * 32) ||
        !mem.contains(nevents_ptr, 4))
      return Errno::Fault;

    auto write_event = [&](uint32_t slot, uint64_t userdata, Errno error, uint8_t type) {
      uint8_t* p = mem.range(out + slot * 32, 32);
      std::memset(p, 0, 32);
      std::memcpy(p, &userdata, 8);
      uint16_t code = static_cast<uint16_t>(error);
      std::memcpy(p + 8, &code, 2);
      p[10] = type;
    };

    // fd subscriptions are reported ready at once (stdio and files never block here); clock
    // subscriptions wait for the earliest deadline.
    uint32_t events = 0;
    auto now_ns = [](clockid_t clock) {
      struct timespec ts {};
      clock_gettime(clock, &ts);
      return timespec_ns(ts);
    };
    std::optional<uint64_t> shortest_wait;
    for (uint32_t i = 0; i < count; ++i) {
      uint64_t userdata = 0;
      uint8_t tag = 0;
      mem.load(in + i * 48, userdata);
      mem.load(in + i * 48 + 8, tag);
      if (tag == kEventClock) {
        uint32_t clock_id = 0;
        uint64_t timeout = 0;
        uint16_t flags = 0;
        mem.load(in + i * 48 + 16, clock_id);
        mem.load(in + i * 48 + 24, timeout);
        mem.load(in + i * 48 + 40, flags);
        clockid_t clock;
        if (!host_clock(clock_id, clock)) {
          write_event(events++, userdata, Errno::Inval, kEventClock);
          continue;
        }
        uint64_t wait = timeout;
        if (flags & kSubclockAbstime) {
          uint64_t now = now_ns(clock);
          wait = timeout > now ? timeout - now : 0;
        }
        if (!shortest_wait || wait < *shortest_wait) shortest_wait = wait;
      } else if (tag == kEventFdRead || tag == kEventFdWrite) {
        uint32_t number = 0;
        mem.load(in + i * 48 + 16, number);
        Fd* fd = find_fd(ctx, number);
        write_event(events++, userdata, fd ? Errno::Success : Errno::BadF, tag);
      } else {
        write_event(events++, userdata, Errno::Inval, tag);
      }
    }
    if (events == 0 && shortest_wait) {
      auto wait = std::chrono::nanoseconds(std::min<uint64_t>(*shortest_wait, INT64_MAX));
      std::this_thread::sleep_for(std::min(wait, ctx.config_.max_sleep));
      // Report every clock subscription whose deadline has now passed (at least the earliest).
      for (uint32_t i = 0; i < count; ++i) {
        uint64_t userdata = 0;
        uint8_t tag = 0;
        uint32_t clock_id = 0;
        uint64_t timeout = 0;
        uint16_t flags = 0;
        mem.load(in + i * 48, userdata);
        mem.load(in + i * 48 + 8, tag);
        mem.load(in + i * 48 + 16, clock_id);
        mem.load(in + i * 48 + 24, timeout);
        mem.load(in + i * 48 + 40, flags);
        clockid_t clock;
        if (tag != kEventClock || !host_clock(clock_id, clock)) continue;
        bool due =
            (flags & kSubclockAbstime) ? timeout <= now_ns(clock) : timeout <= *shortest_wait;
        if (due) write_event(events++, userdata, Errno::Success, kEventClock);
      }
    }
    mem.store(nevents_ptr, events);
    return Errno::Success;
  }

  static Errno sched_yield(WasiContext&, GuestMemory&, Args) {
    std::this_thread::yield();
    return Errno::Success;
  }

  static Errno not_implemented(WasiContext&, GuestMemory&, Args) { return Errno::NoSys; }

  // The first proc_exit wins; a guest that swallowed the unwinding cannot change its code.
  static void record_exit(WasiContext& ctx, uint32_t code) {
    if (!ctx.exit_code_) ctx.exit_code_ = code;
  }
};

namespace {

using HostImpl = Errno (*)(WasiContext&, GuestMemory&, std::span<const Value>);

struct FunctionSpec {
  std::string_view name;
  std::string_view params;  // one letter per parameter: i = i32, I = i64
  HostImpl impl;
};

using I = WasiContext::Impl;

// Every function of wasi_snapshot_preview1 except proc_exit, with its wasm signature.
const FunctionSpec kFunctions[] = {
    {"args_get", "ii", I::args_get},
    {"args_sizes_get", "ii", I::args_sizes_get},
    {"environ_get", "ii", I::environ_get},
    {"environ_sizes_get", "ii", I::environ_sizes_get},
    {"clock_res_get", "ii", I::clock_res_get},
    {"clock_time_get", "iIi", I::clock_time_get},
    {"fd_advise", "iIIi", I::not_implemented},
    {"fd_allocate", "iII", I::not_implemented},
    {"fd_close", "i", I::fd_close},
    {"fd_datasync", "i", I::fd_sync},
    {"fd_fdstat_get", "ii", I::fd_fdstat_get},
    {"fd_fdstat_set_flags", "ii", I::fd_fdstat_set_flags},
    {"fd_fdstat_set_rights", "iII", I::not_implemented},
    {"fd_filestat_get", "ii", I::fd_filestat_get},
    {"fd_filestat_set_size", "iI", I::fd_filestat_set_size},
    {"fd_filestat_set_times", "iIIi", I::not_implemented},
    {"fd_pread", "iiiIi", I::fd_pread},
    {"fd_prestat_get", "ii", I::fd_prestat_get},
    {"fd_prestat_dir_name", "iii", I::fd_prestat_dir_name},
    {"fd_pwrite", "iiiIi", I::fd_pwrite},
    {"fd_read", "iiii", I::fd_read},
    {"fd_readdir", "iiiIi", I::fd_readdir},
    {"fd_renumber", "ii", I::not_implemented},
    {"fd_seek", "iIii", I::fd_seek},
    {"fd_sync", "i", I::fd_sync},
    {"fd_tell", "ii", I::fd_tell},
    {"fd_write", "iiii", I::fd_write},
    {"path_create_directory", "iii", I::path_create_directory},
    {"path_filestat_get", "iiiii", I::path_filestat_get},
    {"path_filestat_set_times", "iiiiIIi", I::not_implemented},
    {"path_link", "iiiiiii", I::not_implemented},
    {"path_open", "iiiiiIIii", I::path_open},
    {"path_readlink", "iiiiii", I::path_readlink},
    {"path_remove_directory", "iii", I::path_remove_directory},
    {"path_rename", "iiiiii", I::path_rename},
    {"path_symlink", "iiiii", I::not_implemented},
    {"path_unlink_file", "iii", I::path_unlink_file},
    {"poll_oneoff", "iiii", I::poll_oneoff},
    {"random_get", "ii", I::random_get},
    {"sched_yield", "", I::sched_yield},
    {"sock_accept", "iii", I::not_implemented},
    {"sock_recv", "iiiiii", I::not_implemented},
    {"sock_send", "iiiii", I::not_implemented},
    {"sock_shutdown", "ii", I::not_implemented},
};

HostResult exit_result(uint32_t code) {
  return HostResult::fail(std::make_exception_ptr(ExitRequest(code)),
                          "proc_exit(" + std::to_string(code) + ")");
}

}  // namespace

std::vector<std::string_view> function_names() {
  std::vector<std::string_view> names;
  for (const FunctionSpec& spec : kFunctions) names.push_back(spec.name);
  names.push_back("proc_exit");
  return names;
}

void define_imports(Store& store, Imports& imports, std::shared_ptr<WasiContext> context) {
  const std::string module(kModuleName);
  for (const FunctionSpec& spec : kFunctions) {
    FuncType type;
    for (char c : spec.params) type.params.push_back(c == 'I' ? ValType::I64 : ValType::I32);
    type.results = {ValType::I32};
    HostImpl impl = spec.impl;
    auto callback = [context, impl](HostContext& host, std::span<const Value> args,
                                    std::span<Value> results) -> HostResult {
      if (auto code = context->exit_code()) return exit_result(*code);
      try {
        GuestMemory memory(host.memory());
        Errno error = impl(*context, memory, args);
        results[0] = Value::make_i32(static_cast<int32_t>(error));
        return HostResult::ok();
      } catch (...) {
        // Out of host memory and the like: a host error, not a crash.
        return HostResult::fail(std::current_exception(), "WASI host function failed");
      }
    };
    imports.define(module, std::string(spec.name),
                   Extern::of(store.create_host_function(
                       std::move(type), std::move(callback),
                       std::string(kModuleName) + "." + std::string(spec.name))));
  }
  auto exit = [context](HostContext&, std::span<const Value> args, std::span<Value>) -> HostResult {
    WasiContext::Impl::record_exit(*context, args[0].i32);
    return exit_result(*context->exit_code());
  };
  imports.define(
      module, "proc_exit",
      Extern::of(store.create_host_function(FuncType{{ValType::I32}, {}}, std::move(exit),
                                            std::string(kModuleName) + ".proc_exit")));
}

}  // namespace rw::wasi
