// Module entry: registers the libpcap functions and classes. Loaded only by addon/index.ts.
#include <napi.h>

#include "bpf_program.h"
#include "devices.h"
#include "live_handle.h"

namespace pcap_pipe {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("devices", Napi::Function::New<Devices>(env, "devices"));
  exports.Set("libVersion", Napi::Function::New<LibVersion>(env, "libVersion"));
  exports.Set("LiveHandle", LiveHandle::Define(env));
  exports.Set("BpfProgram", BpfProgram::Define(env));
  exports.Set("batchRecordHeaderBytes", Napi::Number::New(env, kBatchRecordHeader));
  return exports;
}

NODE_API_MODULE(pcap_pipe, Init)

}  // namespace pcap_pipe
