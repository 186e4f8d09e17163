"""The one offline stack: the bot against a fake Slack and the ECS simulator.

Shipped in the package (as errbot ships its test backend) because tests, the soak,
the benchmarks and ``ecs-reboot-bot console`` all run the same thing:

``settings``        a value for every setting (``offline_env``), so the shell never leaks in
``slack_api``       the fake Slack Web API on loopback (``FakeSlackApi``, ``Message``)
``slack_requests``  signed slash commands and clicks as Slack sends them, over HTTP
                    (``SlackRequestSender``) or in-process (``dispatch``)
``stack``           the bot served in-process (``running_bot`` → ``Harness``)
``serve``           ``python -m bot serve`` as a child process (``serve_process``)
``memory``          in-memory fakes of the ports in ``bot/services/ports.py``, for use
                    cases tested in milliseconds (``memory_bot``)
``waiting``         polling a condition on the real clock, for real processes (``wait_until``)
"""
