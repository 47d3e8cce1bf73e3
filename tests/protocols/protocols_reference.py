"""Translation fixtures, written from the public API references.

Anthropic Messages: https://docs.anthropic.com/en/api/messages (request, tool use,
tool_result with is_error, images, streaming events); OpenAI chat completions:
https://platform.openai.com/docs/api-reference/chat; OpenAI Responses:
https://platform.openai.com/docs/api-reference/responses (input items, function calls,
streaming events). Each pair says the same thing in two formats.
"""

from __future__ import annotations

WEATHER_SCHEMA = {"type": "object",
                  "properties": {"location": {"type": "string",
                                              "description": "The city and state, e.g. San Francisco, CA"},
                                 "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                  "required": ["location"]}
IMAGE_B64 = "/9j/4AAQSkZJRgABAQ=="

# -- Messages request <-> chat request --------------------------------------------------------
MESSAGES_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "You are a weather assistant.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "What is the weather like in San Francisco? Here is a photo."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                         "data": IMAGE_B64}}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "I'll check the current weather."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA", "unit": "celsius"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
             "content": [{"type": "text", "text": "15 degrees, sunny"}]}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 15 degrees and sunny."}]},
        {"role": "user", "content": [{"type": "text", "text": "And in Paris?"}]},
    ],
    "tools": [{"name": "get_weather", "description": "Get the current weather in a given location",
               "input_schema": WEATHER_SCHEMA}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "stop_sequences": ["\n\nHuman:"],
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
}

CHAT_REQUEST = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is the weather like in San Francisco? Here is a photo."},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{IMAGE_B64}"}}]},
        {"role": "assistant", "content": "I'll check the current weather.", "tool_calls": [
            {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
         "content": "15 degrees, sunny"},
        {"role": "assistant", "content": "It is 15 degrees and sunny."},
        {"role": "user", "content": "And in Paris?"},
    ],
    "max_tokens": 1024,
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "stop": ["\n\nHuman:"],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER_SCHEMA,
        "description": "Get the current weather in a given location"}}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "user": "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
}

# -- chat completion <-> Messages answer --------------------------------------------------------
CHAT_COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
    "created": 1741570283, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me look that up.",
        "tool_calls": [{"id": "call_abc123", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"location":"Paris, France"}'}}]}}],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
              "prompt_tokens_details": {"cached_tokens": 64}},
}

MESSAGES_ANSWER = {
    "type": "message", "role": "assistant", "model": "gpt-4o-2024-08-06",
    "content": [{"type": "text", "text": "Let me look that up."},
                {"type": "tool_use", "id": "call_abc123", "name": "get_weather",
                 "input": {"location": "Paris, France"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 18, "output_tokens": 17, "cache_read_input_tokens": 64},
}

# -- a Messages stream (the reference's tool-use streaming example) <-> chat chunks ----------------
MESSAGES_STREAM = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "stop_sequence": None, "stop_reason": None, "content": [],
        "usage": {"input_tokens": 472, "output_tokens": 2, "cache_read_input_tokens": 100}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Okay, let"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "'s check the weather."}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
        "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": '{"location":'}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ' "San Francisco, CA"}'}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                          "stop_sequence": None},
                       "usage": {"output_tokens": 89}}),
    ("message_stop", {"type": "message_stop"}),
]

CHAT_CHUNKS = [   # what the Anthropic dialect decodes MESSAGES_STREAM into (ids, created aside)
    {"delta": {"role": "assistant", "content": ""}, "finish_reason": None},
    {"delta": {"content": "Okay, let"}, "finish_reason": None},
    {"delta": {"content": "'s check the weather."}, "finish_reason": None},
    {"delta": {"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                               "type": "function",
                               "function": {"name": "get_weather", "arguments": ""}}]},
     "finish_reason": None},
    {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"location":'}}]},
     "finish_reason": None},
    {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "San Francisco, CA"}'}}]},
     "finish_reason": None},
    {"delta": {}, "finish_reason": "tool_calls"},
    {"usage": {"prompt_tokens": 572, "completion_tokens": 89, "total_tokens": 661,
               "cache_read_input_tokens": 100, "prompt_tokens_details": {"cached_tokens": 100}}},
]

# -- Responses request -> chat request ---------------------------------------------------------
RESPONSES_REQUEST = {
    "model": "gpt-4.1",
    "instructions": "You are a helpful assistant.",
    "input": [
        {"role": "developer", "content": "Answer in one sentence."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is the weather like in Paris today?"},
            {"type": "input_image", "image_url": "https://example.com/paris.jpg", "detail": "low"}]},
        {"type": "function_call", "id": "fc_12345xyz", "call_id": "call_12345xyz",
         "name": "get_weather", "arguments": '{"location":"Paris, France"}'},
        {"type": "function_call_output", "call_id": "call_12345xyz", "output": '{"temperature": 15}'},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "It is 15 degrees in Paris.", "annotations": []}]},
        {"role": "user", "content": "Thanks!"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA..."},
    ],
    "tools": [{"type": "function", "name": "get_weather",
               "description": "Get current temperature for a given location.",
               "parameters": WEATHER_SCHEMA, "strict": True},
              {"type": "web_search", "external_web_access": False}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "max_output_tokens": 500,
    "temperature": 0.7,
    "top_p": 1,
    "reasoning": {"effort": "low", "summary": "auto"},
    "text": {"format": {"type": "json_schema", "name": "answer", "strict": True,
                        "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "user-1234",
    "safety_identifier": "user-1234",
    "client_metadata": {"session_id": "s-1"},
}

CHAT_FROM_RESPONSES = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is the weather like in Paris today?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/paris.jpg",
                                                "detail": "low"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_12345xyz", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'}}]},
        {"role": "tool", "tool_call_id": "call_12345xyz", "content": '{"temperature": 15}'},
        {"role": "assistant", "content": "It is 15 degrees in Paris."},
        {"role": "user", "content": "Thanks!"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER_SCHEMA,
        "description": "Get current temperature for a given location."}}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "max_tokens": 500,
    "temperature": 0.7,
    "top_p": 1,
    "reasoning_effort": "low",
    "response_format": {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "strict": True}},
    "user": "user-1234",
}

# -- chat chunks -> Responses stream events (the reference's function-calling stream) --------------
RESPONSES_EVENT_TYPES = [
    "response.created", "response.in_progress",
    "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.delta",
    "response.output_text.done", "response.content_part.done", "response.output_item.done",
    "response.output_item.added",
    "response.function_call_arguments.delta", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done",
    "response.completed",
]
