#!/usr/bin/python3
"""Latency for the bench: a transparent TCP proxy that holds every chunk the client sends for
DELAY seconds before passing it upstream (one-way latency on requests; replies pass at once).

usage: delay-proxy.py LISTEN_PORT UPSTREAM_PORT DELAY   (both on 127.0.0.1)
Unlike tests/fakes/s3-proxy.py (one request per connection, for faults) it keeps connections
alive and costs almost no CPU per request, so the client's own parallelism is what is measured.
The kernel here has no netem qdisc, which would be the usual tool.
"""
import asyncio, sys

LISTEN, UPSTREAM, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(c_reader, c_writer):
    u_reader, u_writer = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    await asyncio.gather(pipe(c_reader, u_writer, DELAY), pipe(u_reader, c_writer, 0))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
