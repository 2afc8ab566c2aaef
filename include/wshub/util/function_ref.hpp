#pragma once
// function_ref: a callable passed down to a function and called there, never stored. Unlike
// std::function it never allocates, whatever the callable captures.
#include <type_traits>
#include <utility>

namespace wshub::util {

template <class Signature>
class function_ref;
template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  template <class F>
  function_ref(F&& f)  // NOLINT: converts like std::function
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... args) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...); }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace wshub::util
