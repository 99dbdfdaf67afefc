"""Who features describe: subscribers, sending domains, sending IPs, mailbox providers, content, and
marketing's ad campaigns."""

from feast import Entity, ValueType

subscriber = Entity(name="subscriber", join_keys=["subscriber_id"], value_type=ValueType.STRING,
                    description="A person on a sender's list")
sender_domain = Entity(name="sender_domain", join_keys=["sending_domain"], value_type=ValueType.STRING,
                       description="An organisation's sending domain")
sender_ip = Entity(name="sender_ip", join_keys=["sending_ip"], value_type=ValueType.STRING,
                   description="A sending IP address")
provider = Entity(name="provider", join_keys=["provider"], value_type=ValueType.STRING,
                  description="A mailbox provider (gmail, yahoo, outlook, …)")
content = Entity(name="content", join_keys=["content_id"], value_type=ValueType.STRING,
                 description="A campaign's content (subject, body, links)")
campaign = Entity(name="campaign", join_keys=["campaign_id"], value_type=ValueType.STRING,
                  description="An advertiser's ad campaign (marketing)")
