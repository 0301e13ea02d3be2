// Module entry: registers the libpcap functions and classes. Loaded only by addon/index.ts.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bpf_program.h"
#include "devices.h"
#include "live_handle.h"

namespace pcap_pipe {

// Reading a big capture allocates a fresh 512 KiB chunk per read and frees it soon after. With glibc's
// defaults such chunks are mmap'd, or the heap top is trimmed once they are freed, so every chunk costs
// page faults and zeroed pages in the kernel again (a third of `pcap-pipe read`'s CPU on a 1 GB file).
// Raising the mmap and trim thresholds keeps freed chunks in the heap for the next read. The commands
// call this when they read a big input; returns false where it does not apply (not glibc).
Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_THRESHOLD, 8 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("devices", Napi::Function::New<Devices>(env, "devices"));
  exports.Set("libVersion", Napi::Function::New<LibVersion>(env, "libVersion"));
  exports.Set("LiveHandle", LiveHandle::Define(env));
  exports.Set("BpfProgram", BpfProgram::Define(env));
  exports.Set("tuneAllocator", Napi::Function::New<TuneAllocator>(env, "tuneAllocator"));
  exports.Set("batchRecordHeaderBytes", Napi::Number::New(env, kBatchRecordHeader));
  return exports;
}

NODE_API_MODULE(pcap_pipe, Init)

}  // namespace pcap_pipe
